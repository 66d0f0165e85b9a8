"""Inference of Liu & Long (2019): every evaluation cell through model-A, model-B and the combined
model; the ensemble takes, cell by cell, the label of whichever model is most confident.

Imports no training code (jobs that only run networks start fast: see `leukoflow.inference`).
Unlabelled final-phase images get a plain per-image file of predictions, never scored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from leukoflow.cnmc.crop import read_crops
from leukoflow.cnmc.names import MODEL_NAMES
from leukoflow.cnmc.subsets import SCORED_ROLES
from leukoflow.core.device import job_device
from leukoflow.core.errors import DatasetError
from leukoflow.core.io import read_tsv, write_table_atomic
from leukoflow.data.datasets import DATASETS
from leukoflow.inference import input_normalisation, load_exported, predict_proba

log = logging.getLogger(__name__)

CLASS_NAMES = DATASETS["cnmc"].classes  # ("HEM", "ALL"): index = label
ENSEMBLE = "ensemble"


def most_confident(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the chosen model per cell, the chosen model's probabilities (N, C)).

    `probabilities` is (models, N, C); per cell the model whose largest class probability is
    highest wins (ties go to the earlier model).
    """
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim != 3:
        raise ValueError(f"expected (models, cells, classes) probabilities, got shape {probabilities.shape}")
    chosen = probabilities.max(axis=2).argmax(axis=0)
    return chosen, probabilities[chosen, np.arange(probabilities.shape[1])]


def load_members(model_paths: Sequence[str]) -> list[tuple[torch.nn.Module, str]]:
    """Each exported network with its input normalisation, each file read once."""
    members = []
    for path in model_paths:
        network = load_exported(path)
        members.append((network, input_normalisation(str(path))))
    return members


def model_probabilities(
    members: Sequence[tuple[torch.nn.Module, str]], images: torch.Tensor, batch_size: int, device
) -> np.ndarray:
    """(models, N, C) class probabilities of uint8 (N, 3, S, S) images."""
    return np.stack(
        [
            predict_proba(network, images, batch_size=batch_size, device=device, normalisation=normalisation)
            for network, normalisation in members
        ]
    )


def prediction_table(cells: pd.DataFrame, probabilities: np.ndarray) -> pd.DataFrame:
    """One row per cell: each model's P(ALL) and label, the ensemble's choice, label and P(ALL)."""
    chosen, ensemble = most_confident(probabilities)
    table = cells.reset_index(drop=True).copy()
    for index, name in enumerate(MODEL_NAMES):
        table[f"prob_all_{name}"] = probabilities[index][:, 1]
        table[f"pred_{name}"] = probabilities[index].argmax(axis=1)
    table["chosen_model"] = np.asarray(MODEL_NAMES)[chosen]
    table[f"prob_all_{ENSEMBLE}"] = ensemble[:, 1]
    table[f"pred_{ENSEMBLE}"] = ensemble.argmax(axis=1)
    table["confidence"] = ensemble.max(axis=1)
    return table


def predict_stage(
    *,
    crops_path: str,
    subsets_path: str,
    unlabelled_path: str,
    unlabelled_index_path: str,
    model_paths: Sequence[str],
    compute: dict,
    batch_size: int,
    predictions_out: str,
    unlabelled_out: str,
) -> pd.DataFrame:
    """Scored predictions of the evaluation cells, and unscored ones of the unlabelled images."""
    if len(model_paths) != len(MODEL_NAMES):
        raise ValueError(f"expected {len(MODEL_NAMES)} models ({MODEL_NAMES}), got {len(model_paths)}")
    payload = read_crops(crops_path)
    table = read_tsv(subsets_path, keep_default_na=False)
    if list(table["id"]) != list(payload["ids"]):
        raise DatasetError(subsets_path, f"rows do not match the cells of {crops_path}; rerun cnmc_subsets")
    device = job_device(compute["accelerator"], compute["allow_cpu_fallback"])
    # Held-out training cells (protocol `cell`) are scored too, in rows of their own role.
    scored = table["role"].isin(SCORED_ROLES).to_numpy()
    images = payload["images"][torch.tensor(scored)]
    cells = table.loc[scored, ["id", "source_id", "label", "class_name", "split", "role"]]
    members = load_members(model_paths)  # once for the evaluation cells and the unlabelled images
    predictions = prediction_table(cells, model_probabilities(members, images, batch_size, device))
    write_table_atomic(predictions, predictions_out)
    for role, rows in predictions.groupby("role"):
        for name in (*MODEL_NAMES, ENSEMBLE):
            accuracy = float((rows[f"pred_{name}"] == rows["label"]).mean())
            log.info("%s: accuracy %.4f on %d %s cells", name, accuracy, len(rows), role)

    extra = read_crops(unlabelled_path)
    extra_index = pd.read_csv(unlabelled_index_path, sep="\t", dtype=str, keep_default_na=False)
    unscored = prediction_table(
        extra_index[["id", "path"]], model_probabilities(members, extra["images"], batch_size, device)
    )
    unscored["predicted_class"] = np.asarray(CLASS_NAMES)[unscored[f"pred_{ENSEMBLE}"].to_numpy(dtype=int)]
    columns = [
        "id",
        "path",
        "predicted_class",
        f"pred_{ENSEMBLE}",
        f"prob_all_{ENSEMBLE}",
        "chosen_model",
        "confidence",
    ]
    write_table_atomic(unscored[columns], unlabelled_out)
    log.info("%d unlabelled final-phase images predicted (not scored): %s", len(unscored), unlabelled_out)
    return predictions
