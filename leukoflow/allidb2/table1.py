"""Table I of Ghosh et al. 2017 rebuilt from per-fold test predictions, beside the paper's row.

Confidence intervals come from `core.metrics.binary_metrics` over the test bag's augmented images.
The 36 copies of one source cell are not independent observations, so those intervals are too
narrow; the `source_*` columns score each test source once (mean probability over its copies),
which is the number to read when judging how well a method generalises to new cells.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from leukoflow.allidb2.paper import TABLE1
from leukoflow.core.evaluation import binary_row, with_pooled_row
from leukoflow.core.io import read_tsv, write_table_atomic
from leukoflow.core.metrics import wilson_interval
from leukoflow.core.splits import BAG_FOLDS, leak_report
from leukoflow.report.figures import plot_learning_curves

log = logging.getLogger(__name__)

LEAK_COLUMN = "test_sources_seen_in_training"


def fold_row(predictions: pd.DataFrame, index: pd.DataFrame, fold: int, protocol: str) -> dict:
    """One Table I row: counts, metrics with 95% CIs, source-level accuracy and the leak count."""
    per_source = predictions.groupby("source_id").agg(label=("label", "first"), prob=("prob_all", "mean"))
    source = binary_row(per_source["label"], (per_source["prob"] >= 0.5).astype(int), seed=fold, metrics=("accuracy",))
    train, val, test = BAG_FOLDS[fold - 1]
    return {
        "protocol": protocol,
        "fold": fold,
        "train_bags": ",".join(f"B{b}" for b in train),
        "val_bag": f"B{val}",
        "test_bag": f"B{test}",
        **binary_row(predictions["label"], predictions["pred"], seed=fold),
        "test_sources": len(per_source),
        **{f"source_{key}": value for key, value in source.items() if key.startswith("accuracy")},
        LEAK_COLUMN: leak_report(index["source_id"], index["bag"], fold)["train_test_shared"],
    }


def build_table1(
    prediction_paths: Sequence[str], folds: Sequence[int], index: pd.DataFrame, protocol: str, paper: dict = TABLE1
) -> pd.DataFrame:
    """Per-fold rows, the pooled row (`fold` "all"), the paper's values and a `leaky` flag."""
    rows = []
    for path, fold in zip(prediction_paths, folds):
        predictions = read_tsv(path)
        rows.append(fold_row(predictions, index, int(fold), protocol))
    table = with_pooled_row(rows, sum_columns=("n_test", "test_sources", LEAK_COLUMN), paper=paper["per_fold"])
    # Per-cell accuracy pooled like the counts: correct test cells summed over folds, Wilson interval.
    per_fold = table.iloc[:-1]
    correct = int(round(float((per_fold["source_accuracy"] * per_fold["test_sources"]).sum())))
    cells = int(per_fold["test_sources"].sum())
    pooled = table.index[-1]
    table.loc[pooled, "source_accuracy"] = correct / cells if cells else float("nan")
    table.loc[pooled, ["source_accuracy_ci_low", "source_accuracy_ci_high"]] = wilson_interval(correct, cells)
    table["protocol"] = protocol
    # What leak-free bags kept whole: each crop's copies, or every crop of one slide (bags.crop_groups).
    table["grouping"] = index["grouping"].iloc[0] if "grouping" in index.columns else "source crop"
    table["leaky"] = table[LEAK_COLUMN] > 0
    return table


def write_table1(
    *,
    prediction_paths,
    history_paths,
    folds,
    index_path,
    source,
    protocol,
    table_out,
    curves_out,
    paper: dict = TABLE1,
) -> pd.DataFrame:
    """Table I (TSV) and the learning curves of one protocol; `report_section.table1_page` shows it."""
    index = read_tsv(index_path)
    table = build_table1(prediction_paths, folds, index, protocol, paper)
    table.insert(1, "data", source["source"])
    write_table_atomic(table, table_out)
    label = " [SYNTHETIC]" if source["source"] == "synthetic" else ""
    leaky = " [PAPER PROTOCOL: LEAKY]" if protocol == "paper" else ""
    plot_learning_curves(
        history_paths,
        [f"fold {fold}" for fold in folds],
        curves_out,
        f"ALL-IDB2 learning curves, {protocol}{label}{leaky}",
        loss_name="NLL loss",
    )
    log.info("Table I (%s): pooled accuracy %.4f over %d folds", protocol, table.iloc[-1]["accuracy"], len(folds))
    return table
