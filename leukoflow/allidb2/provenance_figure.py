"""The report's picture of the measured provenance: a few ALL-IDB2 crops, each above the ALL-IDB1
slide region it matched (the matched window outlined, with some slide around it)."""

from __future__ import annotations

import pandas as pd

from leukoflow.core.io import read_rgb
from leukoflow.report.plotting import pyplot, save_figure

CONTEXT = 0.35  # slide shown around the matched window, as a share of the crop size


def draw_matches(
    examples: pd.DataFrame, crops_manifest: pd.DataFrame, slides_manifest: pd.DataFrame, out_png: str, title: str
) -> None:
    """Write the figure of `examples` (rows of the provenance table; a note instead when empty)."""
    plt = pyplot()
    from matplotlib.patches import Rectangle

    crop_paths = crops_manifest.set_index("id")["path"]
    slide_paths = slides_manifest.set_index("id")["path"]
    columns = max(len(examples), 1)
    fig, axes = plt.subplots(2, columns, figsize=(2.2 * columns + 0.4, 5.6), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    if examples.empty:
        axes[0, 0].text(0.5, 0.5, "no crop matched a slide", ha="center", va="center", fontsize=10)
    for column, row in enumerate(examples.itertuples()):
        crop = read_rgb(crop_paths[row.crop])
        slide = read_rgb(slide_paths[row.slide])
        height, width = crop.shape[:2]
        margin = int(round(CONTEXT * max(height, width)))
        top, left = max(int(row.y) - margin, 0), max(int(row.x) - margin, 0)
        bottom = min(int(row.y) + height + margin, slide.shape[0])
        right = min(int(row.x) + width + margin, slide.shape[1])
        axes[0, column].imshow(crop)
        axes[0, column].set_title(f"{row.crop} ({'ALL' if row.label == 1 else 'healthy'})", fontsize=8)
        axes[1, column].imshow(slide[top:bottom, left:right])
        axes[1, column].add_patch(
            Rectangle((row.x - left - 0.5, row.y - top - 0.5), width, height, fill=False, edgecolor="yellow", lw=1.2)
        )
        axes[1, column].set_title(f"{row.slide} at ({int(row.x)}, {int(row.y)})\nNCC {row.score:.4f}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=90)
