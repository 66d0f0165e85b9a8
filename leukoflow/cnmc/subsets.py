"""Which cell is used where: evaluation set, the 7:3 training/validation split, and the designed
bagging subsets A and B of Liu & Long (2019).

Roles (column `role`): `test` (the preliminary test set when its labels are present, otherwise
held-out training subjects), `val`, `train`. Protocol `subject` (default) keeps every subject's
cells on one side of every split; protocol `cell` splits cells at random, as a cell-random
split would (LEAKY: cells of one subject on both sides inflate the scores), labelled so. Under
protocol `cell` with a labelled preliminary test set, a share of the training cells is also held
out at random (role `held_out`): the score a cell-random evaluation would publish, beside the
same models' score on subjects they never saw (`cnmc.leak_check`, leukoflow/cnmc/protocols.py).

Subsets: the ALL training cells (about twice the HEM cells) are cut at random into two equal
halves All-A and All-B.
  set A = All-A + augmented copies of All-B + all HEM cells + augmented copies of them
  set B = All-B + augmented copies of All-A + the same HEM part
Columns `set_a` / `set_b` say how a cell enters each set: `original`, `augmented`, `both`
(original and an augmented copy) or empty. Stage 2 trains on every `train` cell.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.core.io import read_tsv, write_table_atomic, write_text_atomic
from leukoflow.core.splits import group_train_val_split

log = logging.getLogger(__name__)

PROTOCOLS = ("subject", "cell")
HELD_OUT = "held_out"
SCORED_ROLES = ("test", HELD_OUT)
"""Roles whose cells are predicted and scored; Table 1 scores `test` only."""
PRELIM_SPLIT = "prelim_test"
ALL, HEM = 1, 0  # manifest labels (docs/design.md)
ORIGINAL, AUGMENTED, BOTH = "original", "augmented", "both"
EVALUATIONS = {
    "prelim_test": "the labelled preliminary test set (subjects never seen in training)",
    "held_out_subjects": "held-out training subjects (no labelled preliminary test set was found)",
    "held_out_cells": "held-out training cells, split at random (LEAKY: their subjects are in training)",
}


def assign_roles(
    index: pd.DataFrame, protocol: str = "subject", val_fraction: float = 0.3, test_fraction: float = 0.2, seed: int = 0
) -> tuple[pd.Series, str]:
    """(role of every row: train / val / test / held_out, evaluation key of `test` in `EVALUATIONS`).

    Raises
    ------
    ConfigError
        For an unknown protocol, or too few subjects to split.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"cnmc.split.protocol: expected one of {PROTOCOLS}, got {protocol!r}")
    groups = index["source_id" if protocol == "subject" else "id"].astype(str).to_numpy()
    labels = index["label"].to_numpy()
    roles = pd.Series("", index=index.index, dtype=object)
    is_prelim = (index["split"] == PRELIM_SPLIT).to_numpy()
    training = ~is_prelim

    def hold_out(role: str) -> None:
        """Move `test_fraction` of the training rows (by group) to `role`."""
        _, held = split_rows(groups[training], labels[training], test_fraction, seed, "cnmc.split.test_fraction")
        rows = np.flatnonzero(training)[held]
        roles.iloc[rows] = role
        training[rows] = False

    if is_prelim.any():
        roles[is_prelim] = "test"
        evaluation = "prelim_test"
        if protocol == "cell":
            hold_out(HELD_OUT)
    else:
        hold_out("test")
        evaluation = "held_out_subjects" if protocol == "subject" else "held_out_cells"
    rows = np.flatnonzero(training)
    train, val = split_rows(groups[training], labels[training], val_fraction, seed + 1, "cnmc.split.val_fraction")
    roles.iloc[rows[train]] = "train"
    roles.iloc[rows[val]] = "val"
    return roles, evaluation


def scored_rows(predictions: pd.DataFrame, role: str, path: str) -> pd.DataFrame:
    """The rows of a predictions table (`cnmc_predict`) scored as `role` (`test`, `held_out`).

    Raises
    ------
    DatasetError
        When the table has no `role` column (written before held-out cells were scored).
    """
    if "role" not in predictions:
        raise DatasetError(path, "no `role` column (written by an older cnmc_predict); rerun cnmc_predict")
    return predictions[predictions["role"] == role].reset_index(drop=True)


def split_rows(groups, labels, fraction: float, seed: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """`core.splits.group_train_val_split`, checked to leave both classes on both sides."""
    keep, held = group_train_val_split(groups, labels, fraction, seed=seed)
    for side, mask in (("kept", keep), ("held-out", held)):
        if len(np.unique(labels[mask])) < 2:
            raise ConfigError(
                f"{key}: the {side} side of a {fraction:g} split holds one class only "
                f"({len(np.unique(groups))} groups); C-NMC needs more subjects of each class"
            )
    return keep, held


def design_subsets(index: pd.DataFrame, roles: pd.Series, seed: int = 0) -> pd.DataFrame:
    """Columns all_half (A / B for ALL training cells), set_a and set_b (see the module docstring)."""
    train = (roles == "train").to_numpy()
    is_all = (index["label"] == ALL).to_numpy()
    all_rows = np.flatnonzero(train & is_all)
    rng = np.random.default_rng(seed)
    shuffled = all_rows[rng.permutation(len(all_rows))]
    half_a = np.zeros(len(index), dtype=bool)
    half_a[shuffled[: (len(shuffled) + 1) // 2]] = True
    half_b = train & is_all & ~half_a
    hem = train & ~is_all
    out = pd.DataFrame(index=index.index)
    out["all_half"] = np.where(half_a, "A", np.where(half_b, "B", ""))
    out["set_a"] = np.select([half_a, half_b, hem], [ORIGINAL, AUGMENTED, BOTH], "")
    out["set_b"] = np.select([half_b, half_a, hem], [ORIGINAL, AUGMENTED, BOTH], "")
    return out


def shared_groups(index: pd.DataFrame, roles: pd.Series) -> dict[str, int]:
    """Subjects seen on two sides: train-val, train-test, val-test, and train-held_out where cells
    are held out (0 everywhere: leak-free)."""
    subjects = {role: set(index.loc[roles == role, "source_id"].astype(str)) for role in ("train", "val", "test")}
    shared = {
        "train_val": len(subjects["train"] & subjects["val"]),
        "train_test": len(subjects["train"] & subjects["test"]),
        "val_test": len(subjects["val"] & subjects["test"]),
    }
    if (roles == HELD_OUT).any():
        shared["train_held_out"] = len(subjects["train"] & set(index.loc[roles == HELD_OUT, "source_id"].astype(str)))
    return shared


def subsets_stage(*, index_path: str, split: dict, subsets_out: str, summary_out: str) -> pd.DataFrame:
    """Roles and subsets of every cropped cell (TSV) and a JSON summary of the split."""
    index = read_tsv(index_path, text_columns=("split",))
    roles, evaluation = assign_roles(
        index, split["protocol"], split["val_fraction"], split["test_fraction"], split["seed"]
    )
    table = index[["id", "source_id", "label", "class_name", "split"]].copy()
    table["role"] = roles
    table = pd.concat([table, design_subsets(index, roles, split["seed"])], axis=1)
    write_table_atomic(table, subsets_out)
    shared = shared_groups(index, roles)
    present = [role for role in ("train", "val", "test", HELD_OUT) if (roles == role).any()]
    counts = {
        role: {name: int(((roles == role) & (index["class_name"] == name)).sum()) for name in ("ALL", "HEM")}
        for role in present
    }
    subjects = {role: int(index.loc[roles == role, "source_id"].nunique()) for role in present}
    summary = {
        "protocol": split["protocol"],
        "leaky": split["protocol"] == "cell" or any(shared.values()),
        "evaluation": evaluation,
        "evaluation_text": EVALUATIONS[evaluation],
        "scored": {
            role: (evaluation if role == "test" else "held_out_cells") for role in SCORED_ROLES if role in present
        },
        "val_fraction": split["val_fraction"],
        "cells": counts,
        "subjects": subjects,
        "shared_subjects": shared,
        "set_sizes": {
            name: int(table[column].isin([ORIGINAL, AUGMENTED]).sum() + 2 * (table[column] == BOTH).sum())
            for name, column in (("A", "set_a"), ("B", "set_b"))
        },
    }
    write_text_atomic(summary_out, json.dumps(summary, indent=2) + "\n")
    log.info("C-NMC split (%s): %s; evaluation on %s", split["protocol"], counts, summary["evaluation_text"])
    return table
