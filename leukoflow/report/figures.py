"""Figures the report draws itself: confusion matrix and ROC curves from labels and scores.

Generic on purpose: ALL-IDB2 cell-level predictions use it now; ALL-IDB1 slide-level, C-NMC and
UKM (three classes: confusion matrix only) can pass their own labels, scores and class names.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leukoflow.core.metrics import confusion_matrix, roc_points
from leukoflow.report.plotting import pyplot, save_figure


@dataclass(frozen=True)
class RocCurve:
    """One ROC curve to draw: the true labels and the scores for the positive class."""

    labels: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class ClassifierFigure:
    png: bytes
    aucs: dict[str, float | None]  # per curve name; None when the labels hold one class only
    confusion: np.ndarray  # rows: true class, columns: predicted class


def classifier_figure(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    class_names: Sequence[str],
    roc: Mapping[str, RocCurve] | None = None,
    title: str = "",
) -> ClassifierFigure:
    """Confusion matrix (left) and, for binary tasks, ROC curves with their AUC (right), as PNG.

    `roc` maps a legend name to a curve; a curve whose labels hold only one class has no ROC
    (`metrics.roc_points` refuses it) and is listed in the panel as undefined instead of failing,
    because a tiny test split can legitimately lose a class.
    """
    plt = pyplot()

    counts = confusion_matrix(y_true, y_pred, len(class_names))
    roc = dict(roc or {})
    fig, axes = plt.subplots(1, 2 if roc else 1, figsize=(9.2 if roc else 4.4, 3.9), squeeze=False)
    ax_cm = axes[0, 0]
    ax_cm.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, counts.max()))
    total = counts.sum()
    for (row, col), value in np.ndenumerate(counts):
        share = f"\n{100 * value / total:.1f}%" if total else ""
        dark = value > 0.6 * counts.max()
        ax_cm.text(
            col, row, f"{value}{share}", ha="center", va="center", fontsize=9, color="white" if dark else "black"
        )
    ticks = np.arange(len(class_names))
    ax_cm.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true", title="confusion matrix")
    ax_cm.set_xticklabels(class_names)
    ax_cm.set_yticklabels(class_names)

    aucs: dict[str, float | None] = {}
    if roc:
        ax_roc = axes[0, 1]
        ax_roc.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls=":")
        undefined = []
        for name, curve in roc.items():
            try:
                fpr, tpr, area = roc_points(curve.labels, curve.scores)
            except ValueError:
                aucs[name] = None
                undefined.append(name)
                continue
            aucs[name] = area
            ax_roc.plot(fpr, tpr, lw=1.6, label=f"{name}: AUC {area:.3f}")
        if undefined:
            ax_roc.text(
                0.5,
                0.08,
                "ROC undefined (one class only):\n" + "\n".join(undefined),
                ha="center",
                va="bottom",
                fontsize=8,
                color="#a33",
            )
        ax_roc.set(
            xlabel="false positive rate",
            ylabel="true positive rate",
            title="ROC",
            xlim=(-0.01, 1.01),
            ylim=(-0.01, 1.01),
            aspect="equal",
        )
        if any(v is not None for v in aucs.values()):
            ax_roc.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return ClassifierFigure(png=buffer.getvalue(), aucs=aucs, confusion=counts)


def plot_learning_curves(
    history_paths: Sequence[str],
    labels: Sequence,
    out_png: str,
    title: str,
    score: str = "acc",
    loss_name: str = "loss",
) -> None:
    """Training (solid) and validation (dashed) loss and score per epoch, one colour per run.

    `history_paths` are history.csv files of `training.fit` (columns epoch, train_loss,
    train_<score>, val_loss, val_<score>); `labels` name the runs ("fold 1", "model-A", ...).
    """
    plt = pyplot()

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    for index, (path, label) in enumerate(zip(history_paths, labels)):
        history = pd.read_csv(path)
        colour = colours[index % 10]
        for ax, metric in ((ax_loss, "loss"), (ax_acc, score)):
            ax.plot(history["epoch"], history[f"train_{metric}"], color=colour, lw=1, label=f"{label} train")
            ax.plot(history["epoch"], history[f"val_{metric}"], color=colour, lw=1, ls="--", label=f"{label} val")
    ax_loss.set(xlabel="epoch", ylabel=loss_name, title="loss")
    score_name = {"acc": "accuracy", "dice": "Dice"}.get(score, score)
    ax_acc.set(xlabel="epoch", ylabel=score_name, title=score_name, ylim=(0, 1.02))
    ax_acc.legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=110)
