"""Rule ukm_tables: the segmentation table (per fold, pooled, before and after the opening), the
dice-versus-cross-entropy comparison, the classification table, learning curves and the figure.

Every number comes from the files the earlier UKM rules wrote: pixel counts per image
(`ukm_segment`), the classifier's test predictions and the training histories.

Segmentation metrics pool the pixel counts of a fold's images ("micro"); their 95% intervals
resample whole source images (`core.segmentation_metrics`). Classification metrics are
per crop with intervals resampling source images (`core.metrics.multiclass_report`); the per-image
accuracy scores each test image once, by the crop of its largest nucleus.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from leukoflow.config import HOLDOUT_FOLD
from leukoflow.core.io import read_tsv, write_table_atomic
from leukoflow.core.metrics import confusion_matrix, multiclass_report
from leukoflow.core.segmentation_metrics import SEGMENTATION_METRICS, segmentation_metrics
from leukoflow.data.datasets import DATASETS
from leukoflow.report.figures import plot_learning_curves
from leukoflow.ukm.paper import CLASSIFICATION, SEGMENTATION

log = logging.getLogger(__name__)

CLASSES = DATASETS["ukm"].classes
COUNTS = ("tp", "fp", "fn", "tn")
PER_IMAGE = "accuracy per image"
"""The classification table's row scoring each test image once (its largest nucleus's crop)."""
COLLAPSE_SHARE = 0.1
"""A U-Net 'collapsed to background' when it predicts under this share of the true nucleus pixels."""


def read_counts(path: str) -> pd.DataFrame:
    return read_tsv(path, text_columns=("loss", "mask"))


def segmentation_row(counts: pd.DataFrame, seed: int = 0) -> dict:
    """Summed pixel counts, every metric with its 95% CI, mean per-image Dice, image count."""
    values = segmentation_metrics(counts[list(COUNTS)].to_numpy(), groups=counts["source_id"].to_numpy(), seed=seed)
    row: dict = {name: int(counts[name].sum()) for name in COUNTS}
    for name in (*SEGMENTATION_METRICS, "mean_dice"):
        for suffix in ("", "_ci_low", "_ci_high"):
            row[name + suffix] = values[name + suffix]
    row["n_images"] = values["n_images"]
    return row


HOLDOUT = "holdout"
"""The segmentation table's `fold` of the paper's 70/30 hold-out (U-Net fold `HOLDOUT_FOLD`)."""
BASELINE = "baseline"
"""The segmentation table's `evaluation` of the global Otsu threshold on the cross-validation's images."""
EVALUATIONS = {
    HOLDOUT: "70/30 hold-out by source image (paper)",
    "cross_validation": "cross-validation by source image (ours)",
    BASELINE: "a global Otsu threshold of each grey image, on the cross-validation's images (ours)",
}


def segmentation_table(counts: pd.DataFrame, main_loss: str, paper: Mapping = SEGMENTATION) -> pd.DataFrame:
    """The paper's 70/30 hold-out after the opening (when it ran), then our cross-validation: one
    row per fold after the opening and the pooled row ("all") after and before it; last, where
    `ukm_segment` scored it, the global Otsu threshold on the same images (`evaluation`
    "baseline", `loss` and `mask` "otsu"). Column `evaluation` names the protocol; the paper's
    values (`paper_<metric>`) sit on the hold-out row, the one scored as the paper scores, or,
    without a hold-out, on every U-Net row."""
    from leukoflow.ukm.segment import THRESHOLD_BASELINE

    main = counts[counts["loss"] == main_loss]
    holdout, folds = main[main["fold"] == HOLDOUT_FOLD], main[main["fold"] != HOLDOUT_FOLD]
    opened, raw = folds[folds["mask"] == "opened"], folds[folds["mask"] == "raw"]
    rows = []
    if len(holdout):
        part = holdout[holdout["mask"] == "opened"]
        rows.append({"evaluation": HOLDOUT, "fold": HOLDOUT, "mask": "opened", **segmentation_row(part)})
    rows += [
        {
            "evaluation": "cross_validation",
            "fold": str(fold),
            "mask": "opened",
            **segmentation_row(part, seed=int(fold)),
        }
        for fold, part in opened.groupby("fold", sort=True)
    ]
    rows.append({"evaluation": "cross_validation", "fold": "all", "mask": "opened", **segmentation_row(opened)})
    rows.append({"evaluation": "cross_validation", "fold": "all", "mask": "raw", **segmentation_row(raw)})
    otsu = counts[(counts["loss"] == THRESHOLD_BASELINE) & (counts["fold"] != HOLDOUT_FOLD)]
    if len(otsu):
        rows.append({"evaluation": BASELINE, "fold": "all", "mask": THRESHOLD_BASELINE, **segmentation_row(otsu)})
    table = pd.DataFrame(rows)
    table.insert(2, "loss", np.where(table["evaluation"] == BASELINE, THRESHOLD_BASELINE, main_loss))
    beside = table["evaluation"] == HOLDOUT if len(holdout) else table["evaluation"] != BASELINE
    for name in SEGMENTATION_METRICS:
        if name in paper:
            table[f"paper_{name}"] = np.where(beside, paper[name], np.nan)
    return table


def best_epoch(history_path: str, monitor: str = "val_loss") -> dict:
    """Epochs trained, the exported (best) epoch and its validation Dice, from a history.csv."""
    history = pd.read_csv(history_path)
    best = history.loc[history[monitor].idxmin()] if len(history) else None
    return {
        "epochs_trained": int(len(history)),
        "best_epoch": int(best["epoch"]) if best is not None else -1,
        "best_val_dice": float(best["val_dice"]) if best is not None and "val_dice" in best else float("nan"),
    }


def loss_comparison_table(counts: pd.DataFrame, fold: int, histories: Mapping[str, str]) -> pd.DataFrame:
    """Dice loss against cross-entropy on one fold: the network's own masks (before the opening),
    the share of pixels it calls nucleus against the truth, and whether it collapsed."""
    rows = []
    for loss, history in histories.items():
        part = counts[(counts["loss"] == loss) & (counts["fold"] == fold) & (counts["mask"] == "raw")]
        if part.empty:
            continue
        total = float(part[list(COUNTS)].to_numpy().sum())
        predicted = float((part["tp"] + part["fp"]).sum()) / total
        truth = float((part["tp"] + part["fn"]).sum()) / total
        rows.append(
            {
                "loss": loss,
                "fold": int(fold),
                **segmentation_row(part, seed=int(fold)),
                "predicted_foreground": predicted,
                "true_foreground": truth,
                "collapsed": bool(predicted < COLLAPSE_SHARE * truth),
                **best_epoch(history),
            }
        )
    return pd.DataFrame(rows)


def classification_table(
    predictions: pd.DataFrame,
    images: pd.DataFrame,
    class_weights: Sequence[float] | None = None,
    paper: Mapping = CLASSIFICATION,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-class precision, recall, F1 (95% CIs over source images), averages, accuracy per crop
    and per image, the confusion counts (`as_<class>` columns of the class rows), and the number of
    test images the pipeline left without a crop; `class_weight` of each class row (the weights
    the classifier's loss used, empty when it used none).

    `images` is the preprocessing index (to count test images the U-Net found no nucleus in).
    """
    labels, predicted = predictions["label"].to_numpy(), predictions["pred"].to_numpy()
    table = multiclass_report(labels, predicted, CLASSES, groups=predictions["source_id"].to_numpy(), seed=seed)
    largest = predictions[predictions["largest"].astype(bool)]
    per_image = multiclass_report(
        largest["label"], largest["pred"], CLASSES, groups=largest["source_id"].to_numpy(), seed=seed
    )
    per_image_row = per_image[per_image["class"] == "accuracy"].assign(**{"class": PER_IMAGE})
    table = pd.concat([table, per_image_row], ignore_index=True)
    confusion = confusion_matrix(labels, predicted, len(CLASSES))
    for column, name in enumerate(CLASSES):
        table[f"as_{name}"] = pd.array([*confusion[:, column], *[pd.NA] * (len(table) - len(CLASSES))], dtype="Int64")
    weights = [*(class_weights or [np.nan] * len(CLASSES)), *[np.nan] * (len(table) - len(CLASSES))]
    table["class_weight"] = np.asarray(weights, dtype=np.float64)
    table["paper_accuracy"] = np.where(table["class"] == "accuracy", paper.get("accuracy", np.nan), np.nan)
    test_images = images[images["classifier_split"] == "test"]
    table["test_images"] = len(test_images)
    table["test_images_without_crop"] = int((~test_images["row"].isin(predictions["row"])).sum())
    table["test_crops"] = len(predictions)
    return table


def write_ukm_tables(
    *,
    counts_path: str,
    main_loss: str,
    folds: Sequence[int],
    unet_histories: Mapping[tuple[str, int], str],
    compare_fold: int | None,
    predictions_paths: Mapping[str, str],
    classifier_histories: Mapping[str, str],
    classifier_models: Mapping[str, str],
    deviations: Mapping[str, Sequence[Sequence[str]]],
    index_path: str,
    source: Mapping,
    segmentation_out: str,
    comparison_out: str,
    classification_out: str,
    unet_curves_out: str,
    classifier_curves_out: str,
) -> dict[str, pd.DataFrame]:
    """Write the three tables and the two learning-curve figures; returns the tables.

    The classification table stacks one block per classifier method (`predictions_paths` etc.
    keyed by method), with columns `method` and `deviations` ("switch=value; ...")."""
    from leukoflow.core.methods import METHOD_TITLES
    from leukoflow.inference import read_exported
    from leukoflow.ukm.preprocess import read_index

    counts = read_counts(counts_path)
    data = source.get("source", "synthetic")
    segmentation = segmentation_table(counts, main_loss)
    segmentation.insert(1, "data", data)
    write_table_atomic(segmentation, segmentation_out)

    fold = compare_fold if compare_fold is not None else folds[0]
    comparison = loss_comparison_table(
        counts, fold, {loss: path for (loss, run_fold), path in unet_histories.items() if run_fold == fold}
    )
    comparison.insert(1, "data", data)
    write_table_atomic(comparison, comparison_out)

    images = read_index(index_path)
    blocks = []
    for method, path in predictions_paths.items():
        trained = read_exported(classifier_models[method]).get("train_config", {})
        block = classification_table(read_tsv(path), images, trained.get("class_weights"))
        block.insert(0, "method", method)
        block["deviations"] = "; ".join(f"{item[0]}={item[1]}" for item in deviations.get(method, ()))
        blocks.append(block)
    classification = pd.concat(blocks, ignore_index=True)
    classification.insert(2, "data", data)
    write_table_atomic(classification, classification_out)

    label = " [SYNTHETIC]" if data == "synthetic" else ""
    runs = sorted(unet_histories.items(), key=lambda item: (item[0][0] != main_loss, item[0][1]))
    plot_learning_curves(
        [path for _, path in runs],
        [
            f"{'70/30 hold-out' if run_fold == HOLDOUT_FOLD else f'fold {run_fold}'} {loss}"
            for (loss, run_fold), _ in runs
        ],
        unet_curves_out,
        f"UKM-WBC U-Net learning curves{label}",
        score="dice",
        loss_name="training loss (dice or cross-entropy)",
    )
    plot_learning_curves(
        list(classifier_histories.values()),
        [f"classifier, {METHOD_TITLES.get(m, m).lower()}" for m in classifier_histories],
        classifier_curves_out,
        f"UKM-WBC classifier learning curves{label}",
        loss_name="class-weighted NLL",
    )
    pooled = segmentation[(segmentation["fold"] == "all") & (segmentation["mask"] == "opened")].iloc[0]
    accuracy = classification[classification["class"] == "accuracy"].set_index("method")["f1"]
    log.info(
        "UKM-WBC%s: Dice %.4f, IoU %.4f, precision %.4f (after opening, %d folds); classification accuracy %s",
        label,
        pooled["dice"],
        pooled["iou"],
        pooled["precision"],
        len(folds),
        ", ".join(f"{m} {v:.4f}" for m, v in accuracy.items()),
    )
    holdout = segmentation[segmentation["fold"] == HOLDOUT]
    if len(holdout):
        log.info(
            "UKM-WBC%s: 70/30 hold-out Dice %.4f on %d images",
            label,
            holdout["dice"].iloc[0],
            holdout["n_images"].iloc[0],
        )
    for row in comparison.itertuples():
        log.info("loss comparison fold %d: %s Dice %.4f, collapsed %s", row.fold, row.loss, row.dice, row.collapsed)
    return {"segmentation": segmentation, "comparison": comparison, "classification": classification}
