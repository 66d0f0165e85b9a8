"""The C-NMC table laid out like Liu & Long's Table 1: per class precision, recall, F1 and
support, then the support-weighted average, each with a 95% CI from a bootstrap over subjects
(cells of one subject are not independent). One block per model (ensemble, model-A, model-B,
combined) so the ensemble's gain is visible; the paper's numbers beside the ensemble's block.
Plus per-subject accuracy and the learning curves of the three trained models.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from leukoflow.cnmc.figures import learning_curves
from leukoflow.cnmc.paper import TABLE1
from leukoflow.cnmc.subsets import scored_rows
from leukoflow.core.io import read_tsv, write_table_atomic
from leukoflow.core.methods import METHOD_TITLES
from leukoflow.core.metrics import multiclass_report
from leukoflow.data.datasets import DATASETS

log = logging.getLogger(__name__)

CLASS_NAMES = DATASETS["cnmc"].classes  # ("HEM", "ALL"): index = label
MODELS = {"ensemble": "ensemble", "A": "model-A", "B": "model-B", "combined": "combined"}
"""Prediction column suffix -> the name a table row carries; the ensemble (the paper's system) first."""
TABLE_CLASSES = ("HEM", "ALL", "weighted avg")
METRICS = ("precision", "recall", "f1")


def model_rows(predictions: pd.DataFrame, column: str, n_boot: int, seed: int) -> pd.DataFrame:
    """HEM, ALL and weighted-average rows of one model's predictions (`pred_<column>`)."""
    report = multiclass_report(
        predictions["label"].to_numpy(),
        predictions[f"pred_{column}"].to_numpy(),
        CLASS_NAMES,
        groups=predictions["source_id"].astype(str).to_numpy(),
        n_boot=n_boot,
        seed=seed,
    )
    return report.set_index("class").loc[list(TABLE_CLASSES)].reset_index()


def build_table(
    predictions: pd.DataFrame,
    split: dict,
    n_boot: int = 1000,
    seed: int = 0,
    paper: dict = TABLE1,
    method: str = "ours",
    deviations: Sequence[Sequence[str]] = (),
):
    """Every model's block of rows, with the run's method, evaluation set and the paper's values.

    `deviations` are the method's (switch, value, ...) departures from the paper
    (`cnmc.methods.deviations`): column `deviations` holds them as "switch=value; ..." ("" for
    none), so a table says by itself how far from the paper it is."""
    blocks = []
    for column, name in MODELS.items():
        rows = model_rows(predictions, column, n_boot, seed)
        rows.insert(0, "model", name)
        blocks.append(rows)
    table = pd.concat(blocks, ignore_index=True)
    table.insert(0, "method", method)
    table.insert(1, "evaluation", split["evaluation"])
    table.insert(2, "protocol", split["protocol"])
    table.insert(3, "leaky", bool(split["leaky"]))
    table["n_subjects"] = int(predictions["source_id"].nunique())
    for position, metric in enumerate((*METRICS, "support")):
        values = [
            paper["rows"][row["class"]][position] if row["model"] == "ensemble" else float("nan")
            for _, row in table.iterrows()
        ]
        table[f"paper_{metric}"] = values
    table["deviations"] = "; ".join(f"{item[0]}={item[1]}" for item in deviations)
    return table


def subject_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per subject: class, cells, each model's accuracy and the ensemble's share of ALL calls."""
    frame = predictions.assign(source_id=predictions["source_id"].astype(str))
    for column in MODELS:
        frame[f"accuracy_{column}"] = (frame[f"pred_{column}"] == frame["label"]).astype(float)
    aggregations = {
        "class_name": ("class_name", "first"),
        "n_cells": ("label", "size"),
        **{f"accuracy_{column}": (f"accuracy_{column}", "mean") for column in MODELS},
        "called_all_ensemble": ("pred_ensemble", "mean"),
    }
    table = frame.groupby("source_id").agg(**aggregations).reset_index().rename(columns={"source_id": "subject"})
    return table.sort_values(["class_name", "subject"]).reset_index(drop=True)


def write_tables(
    *,
    predictions_path: str,
    split_path: str,
    history_paths: Sequence[str],
    source: dict,
    n_boot: int,
    seed: int,
    method: str,
    deviations: Sequence[Sequence[str]],
    table_out: str,
    subjects_out: str,
    curves_out: str,
) -> pd.DataFrame:
    """The table and per-subject accuracy (TSV) and the learning curves (PNG)."""
    predictions = scored_rows(read_tsv(predictions_path), "test", predictions_path)
    split = json.loads(Path(split_path).read_text())
    table = build_table(predictions, split, n_boot, seed, method=method, deviations=deviations)
    table.insert(0, "data", source["source"])
    write_table_atomic(table, table_out)
    write_table_atomic(subject_table(predictions), subjects_out)
    tag = " [SYNTHETIC]" if source["source"] == "synthetic" else ""
    title = f"C-NMC learning curves, {METHOD_TITLES.get(method, method).lower()}{tag}"
    learning_curves(history_paths, ["model-A", "model-B", "combined"], curves_out, title)
    weighted = table[table["class"] == "weighted avg"].set_index("model")["f1"]
    log.info(
        "%s: weighted F1 on %s: %s", method, split["evaluation"], ", ".join(f"{m} {v:.4f}" for m, v in weighted.items())
    )
    return table
