"""Fig. 4/5 of the paper for every slide, one row per slide method: heatmap, eosin mask, final
mask and the patches (red abnormal, green normal) on the slide, drawn from the small images the
segmentation jobs kept (no slide is decoded again)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from leukoflow.allidb1.files import load_npz, read_tables
from leukoflow.allidb1.methods import METHOD_TITLES
from leukoflow.core.io import read_tsv
from leukoflow.data.datasets import DATASETS
from leukoflow.report.plotting import pyplot, save_figure

log = logging.getLogger(__name__)

CLASS_NAMES = DATASETS["allidb1"].classes
COLUMNS = (
    ("heat", "heatmap (mean excitation)", "inferno"),
    ("heat_mask", "heatmap above threshold", "gray"),
    ("eosin", "eosin-thresholded mask", "gray"),
    ("mask", "final mask", "gray"),
    ("rgb", "patches: red abnormal, green normal", None),
)


def draw_panel(
    slide: str,
    title: str,
    rows: Sequence[tuple[str, Mapping[str, np.ndarray], pd.DataFrame, str]],
    truth_xy: np.ndarray | None,
    out_png: str,
) -> None:
    """One figure: a row per method (name, its thumbnails, its patches, row label)."""
    plt = pyplot()
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(len(rows), len(COLUMNS), figsize=(14, 2.4 * len(rows) + 0.4), squeeze=False)
    for (method, thumbs, patches, label), row_axes in zip(rows, axes):
        step = thumbs["width"] / thumbs["rgb"].shape[1]  # slide pixels per thumbnail pixel
        for ax, (key, name, cmap) in zip(row_axes, COLUMNS):
            ax.imshow(thumbs[key], cmap=cmap, interpolation="nearest")
            ax.set_title(f"{METHOD_TITLES.get(method, method)}: {name}", fontsize=8)
            ax.axis("off")
        boxes = row_axes[-1]
        for r in patches.itertuples():
            colour = "red" if r.abnormal else "lime"
            corner = (r.x0 / step, r.y0 / step)
            boxes.add_patch(Rectangle(corner, (r.x1 - r.x0) / step, (r.y1 - r.y0) / step, fill=False, ec=colour, lw=1))
        if truth_xy is not None and len(truth_xy):
            boxes.scatter(truth_xy[:, 0] / step, truth_xy[:, 1] / step, marker="x", s=18, c="yellow", lw=1)
        row_axes[0].text(
            -0.04, 0.5, label, transform=row_axes[0].transAxes, rotation=90, va="center", ha="right", fontsize=8
        )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=80)


def run_panels(
    *,
    manifest: pd.DataFrame,
    slides: Sequence[str],
    methods: Sequence[str],
    thumbs_paths: Mapping[str, Sequence[str]],
    patch_paths: Mapping[str, Sequence[str]],
    verdicts_path: str,
    truth: pd.DataFrame | None,
    outs: Mapping[str, str],
    data_label: str = "",
) -> None:
    """A panel per slide of `outs` (slide -> PNG path); a rejected slide gets a one-line figure."""
    thumbs = {method: {} for method in methods}
    for method in methods:
        for path in thumbs_paths[method]:
            thumbs[method].update(load_npz(path)[0])
    patches = {method: read_tables(patch_paths[method]) for method in methods}
    verdicts = read_tsv(verdicts_path, text_columns=("slide",)).set_index(["method", "slide"])
    widths = manifest.set_index("id")["width"]
    for slide in slides:
        if slide not in widths.index:
            _empty_panel(outs[slide], f"{slide}: rejected from the manifest")
            continue
        rows = []
        for method in methods:
            verdict = verdicts.loc[(method, slide)]
            images = {key: thumbs[method][f"{slide}/{key}"] for key, _, _ in COLUMNS}
            images["width"] = float(widths[slide])
            label = (
                f"{int(verdict['n_patches'])} patches, {int(verdict['n_abnormal'])} abnormal: "
                f"{CLASS_NAMES[int(verdict['verdict'])]}"
            )
            rows.append((method, images, patches[method][patches[method]["slide"] == slide], label))
        truth_xy = None
        if truth is not None:
            blasts = truth[(truth["image_id"] == slide) & (truth["is_blast"] == 1)]
            truth_xy = blasts[["x", "y"]].to_numpy(float)
        label = CLASS_NAMES[int(manifest.set_index("id").at[slide, "label"])]
        draw_panel(slide, f"{slide} (label {label}){data_label}", rows, truth_xy, outs[slide])
    log.info("%d slide panels drawn", len(slides))


def _empty_panel(out_png: str, title: str) -> None:
    plt = pyplot()

    fig = plt.figure(figsize=(4, 1))
    fig.text(0.5, 0.5, title, ha="center", va="center")
    save_figure(fig, out_png)
