"""Training of Liu & Long (2019): model-A and model-B on the designed subsets (stage 1), then the
combined model on every training cell with class weights (stage 2).

The crops are one uint8 tensor loaded once; the augmented copies of a subset are made in
batches on the job's device (`cnmc.augment`) and appended to the originals; `training.fit`
trains with RMSprop, divides the learning rate by 10 after `plateau_patience` epochs without a
lower validation loss and stops after `early_stopping_patience`.
"""

from __future__ import annotations

import logging

import pandas as pd
import torch

from leukoflow.cnmc.augment import AugmentSettings, augment
from leukoflow.cnmc.crop import read_crops
from leukoflow.cnmc.models import BackboneClassifier, CombinedClassifier, set_batchnorm_momentum
from leukoflow.cnmc.names import BACKBONE_MODELS
from leukoflow.cnmc.subsets import AUGMENTED, BOTH, ORIGINAL
from leukoflow.core.device import job_device
from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.core.io import read_tsv
from leukoflow.data.datasets import DATASETS
from leukoflow.inference import read_exported
from leukoflow.training.config import TrainConfig, runtime_settings
from leukoflow.training.fit import fit

log = logging.getLogger(__name__)

CLASS_NAMES = DATASETS["cnmc"].classes  # ("HEM", "ALL"): index = manifest label
MODELS = BACKBONE_MODELS


def train_config(settings: dict, compute: dict, threads: int, class_weights=None) -> TrainConfig:
    """The trainer's settings from `cnmc.backbones` or `cnmc.combined` and `compute`."""
    return TrainConfig(
        epochs=settings["epochs"],
        lr=settings["lr"],
        optimizer="rmsprop",
        schedule="plateau",
        plateau_factor=settings["plateau_factor"],
        plateau_patience=settings["plateau_patience"],
        early_stopping_patience=settings["early_stopping_patience"],
        class_weights=class_weights,
        batch_size=settings["batch_size"],
        seed=settings["seed"],
        **runtime_settings(compute, threads),
    )


def class_weight_tuple(weights: dict) -> tuple[float, ...]:
    """{"ALL": 2.5, "HEM": 1.0} -> (1.0, 2.5), in label order (HEM = 0, ALL = 1)."""
    unknown = sorted(set(weights) - set(CLASS_NAMES))
    if unknown:
        raise ConfigError(f"cnmc.combined.class_weights: unknown classes {unknown}; expected {list(CLASS_NAMES)}")
    return tuple(float(weights.get(name, 1.0)) for name in CLASS_NAMES)


def load_cells(crops_path: str, subsets_path: str) -> tuple[torch.Tensor, pd.DataFrame]:
    """The crop tensor and the subsets table, checked to describe the same cells in one order."""
    payload = read_crops(crops_path)
    table = read_tsv(subsets_path, keep_default_na=False)
    if list(table["id"]) != list(payload["ids"]):
        raise DatasetError(subsets_path, f"rows do not match the cells of {crops_path}; rerun cnmc_subsets")
    return payload["images"], table


def subset_tensors(
    images: torch.Tensor,
    table: pd.DataFrame,
    column: str,
    settings: AugmentSettings,
    seed: int,
    device,
    shared_seed: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Originals of a subset, then augmented copies of the cells marked `augmented`, then those
    of the cells marked `both`.

    The `both` cells are the HEM part, which the paper puts into sets A and B alike ("the same
    HEM"): their copies come from `shared_seed` (the same for both models), so A and B hold the
    same augmented HEM images; the ALL copies of the other half come from the model's `seed`.
    """
    how = table[column]
    labels = torch.tensor(table["label"].to_numpy(), dtype=torch.int64)
    original = torch.tensor(how.isin([ORIGINAL, BOTH]).to_numpy())
    own = torch.tensor((how == AUGMENTED).to_numpy())
    shared = torch.tensor((how == BOTH).to_numpy())
    own_copies = augment(images[own], settings, seed, device)
    shared_copies = augment(images[shared], settings, seed if shared_seed is None else shared_seed, device)
    return (
        torch.cat([images[original], own_copies, shared_copies]),
        torch.cat([labels[original], labels[own], labels[shared]]),
    )


def role_tensors(images: torch.Tensor, table: pd.DataFrame, role: str) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.tensor((table["role"] == role).to_numpy())
    return images[mask], torch.tensor(table["label"].to_numpy(), dtype=torch.int64)[mask]


def log_counts(name: str, labels: torch.Tensor) -> None:
    counts = torch.bincount(labels, minlength=len(CLASS_NAMES)).tolist()
    log.info("%s: %d cells (%s)", name, len(labels), ", ".join(f"{c} {n}" for c, n in zip(CLASS_NAMES, counts)))


def train_backbone(
    *,
    model: str,
    crops_path: str,
    subsets_path: str,
    backbones: dict,
    augment_settings: dict,
    compute: dict,
    threads: int,
    state_dir: str,
    weights_cache: str,
    model_out: str,
    history_out: str,
) -> dict:
    """Stage 1: model-A (or -B) on training set A (or B), validated on the validation subjects."""
    if model not in MODELS:
        raise ConfigError(f"cnmc: model must be one of {MODELS}, got {model!r}")
    images, table = load_cells(crops_path, subsets_path)
    cfg = train_config(backbones, compute, threads)
    device = job_device(cfg.accelerator, cfg.allow_cpu_fallback)
    seed = backbones["seed"] + MODELS.index(model)
    # The HEM copies from one seed for both models (the paper's "same HEM"): our choice of value.
    shared_seed = backbones["seed"] + len(MODELS)
    settings = AugmentSettings.from_config(augment_settings)
    train_x, train_y = subset_tensors(images, table, f"set_{model.lower()}", settings, seed, device, shared_seed)
    val_x, val_y = role_tensors(images, table, "val")
    log_counts(f"training set {model}", train_y)
    log_counts("validation", val_y)
    torch.manual_seed(seed)  # the new head's initial weights are part of the result
    network = BackboneClassifier(backbones["backbone"], len(CLASS_NAMES), backbones["pretrained"], weights_cache)
    set_batchnorm_momentum(network, backbones["batchnorm_momentum"])
    cfg.seed = seed
    data = (train_x, train_y, val_x, val_y)
    summary = fit(network, *data, cfg, state_dir, model_out, history_out, normalisation=network.normalisation)
    log.info("model-%s trained: %s", model, summary)
    return summary


def train_combined(
    *,
    crops_path: str,
    subsets_path: str,
    model_a: str,
    model_b: str,
    combined: dict,
    compute: dict,
    threads: int,
    state_dir: str,
    model_out: str,
    history_out: str,
) -> dict:
    """Stage 2: the combined model on every training cell, class-weighted, same validation."""
    images, table = load_cells(crops_path, subsets_path)
    exported_a, exported_b = read_exported(model_a), read_exported(model_b)
    backbone = exported_a["arch_kwargs"]["backbone"]
    if exported_b["arch_kwargs"]["backbone"] != backbone:
        raise DatasetError(model_b, f"backbone {exported_b['arch_kwargs']['backbone']!r} differs from model-A's")
    weights = class_weight_tuple(combined["class_weights"])
    cfg = train_config(combined, compute, threads, class_weights=weights)
    torch.manual_seed(cfg.seed)
    network = CombinedClassifier(
        backbone, len(CLASS_NAMES), combined["hidden"], combined["dropout"], combined["freeze_trunks"]
    )
    network.load_trunks(exported_a["state_dict"], exported_b["state_dict"])
    set_batchnorm_momentum(network, combined["batchnorm_momentum"])
    train_x, train_y = role_tensors(images, table, "train")
    val_x, val_y = role_tensors(images, table, "val")
    log_counts("combined training", train_y)
    log.info("class weights %s", dict(zip(CLASS_NAMES, weights)))
    data = (train_x, train_y, val_x, val_y)
    summary = fit(network, *data, cfg, state_dir, model_out, history_out, normalisation=network.normalisation)
    log.info("combined model trained: %s", summary)
    return summary
