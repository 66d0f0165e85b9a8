"""The UKM-WBC example figure: per example image the RGB image, grey + CLAHE, the ground-truth
mask, the U-Net's mask, the mask after the opening, and the ROI crops with their predicted class."""

from __future__ import annotations

import torch

from leukoflow.core.io import read_tsv
from leukoflow.report.plotting import pyplot, save_figure
from leukoflow.ukm.preprocess import read_index

MAX_CROPS = 3
PANELS = ("image", "grey + CLAHE", "ground truth", "U-Net mask", "after opening")


def write_panel(
    *,
    examples_path: str,
    index_path: str,
    crops_path: str,
    crops_index_path: str,
    predictions_path: str,
    out_png: str,
    title: str,
) -> None:
    """One row per example image (`ukm_segment`'s examples file); crops of test images carry the
    classifier's predicted class, crops of training images say so."""
    plt = pyplot()

    examples = torch.load(examples_path, map_location="cpu", weights_only=True)
    crops = torch.load(crops_path, map_location="cpu", weights_only=True)["images"]
    index = read_tsv(crops_index_path)
    predictions = read_tsv(predictions_path)
    predicted = dict(zip(predictions["crop"], predictions["pred_class"]))
    images = read_index(index_path)
    class_of = dict(zip(images["row"], images["class_name"]))
    rows = examples["rows"].tolist()
    n_rows = max(1, len(rows))
    per_image = index[index["row"].isin(rows)].groupby("row").size()
    most = int(per_image.max()) if len(per_image) else 0
    columns = len(PANELS) + min(MAX_CROPS, max(1, most))
    fig, axes = plt.subplots(n_rows, columns, figsize=(1.9 * columns, 2.1 * n_rows), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for position, row in enumerate(rows):
        image_crops = index[index["row"] == row].sort_values("component").head(columns - len(PANELS))
        panels = (
            examples["rgb"][position].permute(1, 2, 0).numpy(),
            examples["grey"][position, 0].numpy(),
            examples["truth"][position].numpy(),
            examples["raw"][position].numpy(),
            examples["opened"][position].numpy(),
        )
        for column, (name, picture) in enumerate(zip(PANELS, panels)):
            # Masks are 0/1, the CLAHE image 0..255; the RGB image ignores vmin/vmax.
            vmax = 255 if column == 1 else 1
            axes[position, column].imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=vmax)
            axes[position, column].set_title(name, fontsize=8)
        axes[position, 0].set_title(f"{class_of.get(row, '?')} (row {row})", fontsize=8)
        for column, crop in enumerate(image_crops.itertuples(), start=len(PANELS)):
            axes[position, column].imshow(crops[crop.crop].permute(1, 2, 0).numpy())
            verdict = predicted.get(crop.crop, "(training crop)")
            axes[position, column].set_title(f"crop {crop.component}: {verdict}", fontsize=8)
        if image_crops.empty:
            axes[position, len(PANELS)].text(0.5, 0.5, "no nucleus found", ha="center", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=90)
