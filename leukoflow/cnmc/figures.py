"""C-NMC figures drawn by the stages themselves: the contact sheet of cells before and after the
convex-hull crop, and the learning curves of the three models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from leukoflow.core.io import read_rgb
from leukoflow.report.plotting import pyplot, save_figure

CLASS_ORDER = ("ALL", "HEM")


def sheet_rows(index: pd.DataFrame, per_class: int, seed: int = 0) -> pd.DataFrame:
    """Up to `per_class` cells of each class, training folds first, a seeded pick."""
    rng = np.random.default_rng(seed)
    picks = []
    for name in CLASS_ORDER:
        rows = index[index["class_name"] == name]
        training = rows[rows["split"].str.startswith("fold_")]
        rows = training if len(training) >= per_class else rows
        if len(rows):
            picks.append(rows.iloc[np.sort(rng.choice(len(rows), min(per_class, len(rows)), replace=False))])
    return pd.concat(picks) if picks else index.iloc[:0]


def crop_contact_sheet(
    index: pd.DataFrame,
    crops: torch.Tensor,
    out_png: str,
    *,
    per_class: int = 4,
    title: str = "C-NMC cells before (top, square = crop box) and after (bottom) the convex-hull crop",
) -> None:
    """Original frames with their crop box drawn, above the crops the networks see."""
    plt = pyplot()
    from matplotlib.patches import Rectangle

    chosen = sheet_rows(index.reset_index(drop=True), per_class)
    n = max(len(chosen), 1)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.6), squeeze=False)
    for column, (row_number, row) in enumerate(chosen.iterrows()):
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(read_rgb(row["path"]))
        top.add_patch(
            Rectangle(
                (row["box_left"], row["box_top"]), row["box_side"], row["box_side"], fill=False, ec="#ffd400", lw=1
            )
        )
        top.set_title(f"{row['class_name']} {row['source_id']}", fontsize=7)
        bottom.imshow(crops[row_number].permute(1, 2, 0).numpy())
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=100)


def learning_curves(history_paths: Sequence[str], names: Sequence[str], out_png: str, title: str) -> None:
    """Training (solid) and validation (dashed) loss and accuracy of model-A, model-B and the
    combined model (`report.figures.plot_learning_curves`)."""
    from leukoflow.report.figures import plot_learning_curves

    plot_learning_curves(list(history_paths), list(names), out_png, title, loss_name="NLL loss (weighted in stage 2)")
