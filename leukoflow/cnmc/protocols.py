"""What a cell-random split hides, measured (our choice; `cnmc.leak_check`).

One method is trained twice on the same crops: once on the 7:3 split by subject (leak-free, the
run behind Table 1) and once on a split by cell (LEAKY: every training subject also gives
validation and held-out cells). The table scores

- the subject-split models on subjects they never saw (the preliminary test set);
- the cell-split models on held-out cells of their own training subjects: the score a
  cell-random evaluation would publish;
- the same cell-split models on the subjects they never saw: what they are worth on new patients.

The gap between the last two rows is the leak's inflation, measured on one set of models; the
published gap between the two protocols on the real C-NMC set is about 0.04 AUROC. Each row
carries weighted F1 and the AUC of P(ALL), both with a 95% interval from a bootstrap over
subjects, and how many of the scored subjects the models saw in training.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from leukoflow.cnmc.subsets import EVALUATIONS, scored_rows
from leukoflow.cnmc.tables import CLASS_NAMES, MODELS
from leukoflow.core.errors import DatasetError
from leukoflow.core.io import read_tsv, write_table_atomic
from leukoflow.core.metrics import grouped_auc, multiclass_report

log = logging.getLogger(__name__)

COLUMNS = (
    "protocol",
    "leaky",
    "scored_on",
    "model",
    "n_cells",
    "n_subjects",
    "subjects_seen_in_training",
    "weighted_f1",
    "weighted_f1_ci_low",
    "weighted_f1_ci_high",
    "auc",
    "auc_ci_low",
    "auc_ci_high",
)
SHARED_KEY = {"test": "train_test", "held_out": "train_held_out"}
"""Scored role -> the split summary's count of its subjects that are also training subjects."""


def role_rows(predictions: pd.DataFrame, split: Mapping, role: str, n_boot: int, seed: int) -> list[dict]:
    """One row per model for the cells of one scored role."""
    groups = predictions["source_id"].astype(str).to_numpy()
    labels = predictions["label"].to_numpy()
    rows = []
    for column, name in MODELS.items():
        report = multiclass_report(
            labels, predictions[f"pred_{column}"].to_numpy(), CLASS_NAMES, groups=groups, n_boot=n_boot, seed=seed
        )
        weighted = report.set_index("class").loc["weighted avg"]
        auc, auc_low, auc_high = grouped_auc(labels, predictions[f"prob_all_{column}"], groups, n_boot, seed)
        rows.append(
            {
                "protocol": split["protocol"],
                "leaky": bool(split["leaky"]),
                "scored_on": split["scored"][role],
                "model": name,
                "n_cells": len(predictions),
                "n_subjects": int(predictions["source_id"].nunique()),
                "subjects_seen_in_training": int(split["shared_subjects"].get(SHARED_KEY[role], 0)),
                "weighted_f1": float(weighted["f1"]),
                "weighted_f1_ci_low": float(weighted["f1_ci_low"]),
                "weighted_f1_ci_high": float(weighted["f1_ci_high"]),
                "auc": auc,
                "auc_ci_low": auc_low,
                "auc_ci_high": auc_high,
            }
        )
    return rows


def protocol_table(runs: Mapping[str, tuple[pd.DataFrame, Mapping]], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Rows of every (protocol, scored role, model); `runs` maps protocol -> (predictions, split).

    Subject split first, then the cell split's held-out cells, then its new subjects."""
    rows = []
    for protocol in sorted(runs, key=lambda name: name != "subject"):
        predictions, split = runs[protocol]
        for role in sorted(split["scored"], key=lambda name: name != "held_out"):
            scored = predictions[predictions["role"] == role]
            if len(scored):
                rows += role_rows(scored.reset_index(drop=True), split, role, n_boot, seed)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def inflation(table: pd.DataFrame, model: str = "ensemble") -> dict[str, float]:
    """The cell split's held-out score minus its score on new subjects, per metric (NaN if absent)."""
    # Held-out cells exist only beside a labelled preliminary test set (subsets.assign_roles).
    rows = table[(table["protocol"] == "cell") & (table["model"] == model)].set_index("scored_on")
    if not {"held_out_cells", "prelim_test"} <= set(rows.index):
        return {"weighted_f1": float("nan"), "auc": float("nan")}
    return {
        metric: float(rows.loc["held_out_cells", metric] - rows.loc["prelim_test", metric])
        for metric in ("weighted_f1", "auc")
    }


def write_protocol_table(
    *,
    predictions_paths: Mapping[str, str],
    split_paths: Mapping[str, str],
    source: Mapping,
    method: str,
    n_boot: int,
    seed: int,
    table_out: str,
) -> pd.DataFrame:
    """The protocol table of one method (TSV), from each protocol's predictions and split summary."""
    if set(predictions_paths) != set(split_paths):
        raise ValueError(f"protocols differ: predictions {sorted(predictions_paths)}, splits {sorted(split_paths)}")
    runs = {}
    for protocol, path in predictions_paths.items():
        split = json.loads(Path(split_paths[protocol]).read_text())
        if split.get("protocol") != protocol or "scored" not in split:
            raise DatasetError(
                split_paths[protocol], f"not the split summary of protocol {protocol!r}; rerun cnmc_subsets"
            )
        predictions = read_tsv(path)
        for role in split["scored"]:
            scored_rows(predictions, role, path)  # the role column is there
        runs[protocol] = (predictions, split)
    table = protocol_table(runs, n_boot, seed)
    table.insert(0, "data", source["source"])
    table.insert(1, "method", method)
    table["scored_on_text"] = table["scored_on"].map(EVALUATIONS)
    write_table_atomic(table, table_out)
    gap = inflation(table)
    log.info(
        "%s: a split by cell scores held-out cells %+.3f weighted F1 and %+.3f AUC above new subjects",
        method,
        gap["weighted_f1"],
        gap["auc"],
    )
    return table
