"""One fold of the ALL-IDB2 Table I experiment: load its bags, build the network, train, predict.

The bag tensors are loaded once; training, validation and test images never touch the disk again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
import torch

from leukoflow.allidb2.frozen import fit_above_frozen_stages
from leukoflow.core.device import job_device
from leukoflow.core.io import load_bags, read_tsv, write_table_atomic
from leukoflow.core.splits import BAG_FOLDS
from leukoflow.inference import load_exported, predict_proba
from leukoflow.nets.alexnet import load_features_state
from leukoflow.nets.ghosh import GhoshNet
from leukoflow.nets.pretrained import load_pretrained_features
from leukoflow.training.config import TrainConfig, runtime_settings
from leukoflow.training.fit import fit

log = logging.getLogger(__name__)


def train_config(cnn: dict, compute: dict, threads: int) -> TrainConfig:
    """Map the workflow's `allidb2.cnn` keys (`settings.TRAIN_KEYS`) and device keys onto the trainer's settings."""
    lr_decay = cnn["decay"] if cnn["decay_mode"] == "lr_decay" else 0.0
    weight_decay = cnn["decay"] if cnn["decay_mode"] == "weight_decay" else 0.0
    return TrainConfig(
        epochs=cnn["epochs"],
        lr=cnn["lr"],
        optimizer=cnn["optimizer"],
        momentum=cnn["momentum"],
        weight_decay=weight_decay,
        lr_decay=lr_decay,
        batch_size=cnn["batch_size"],
        seed=cnn["seed"],
        **runtime_settings(compute, threads),
    )


def build_network(cnn: dict, weights_cache: str) -> GhoshNet:
    """The Ghosh network on the configured trunk (`backbone`, AlexNet as in the paper), its conv
    layers loaded from `pretrained` ("imagenet", "none" or a file)."""
    # Seed before the layers are created: with random initialisation the initial weights are
    # part of the result, and fit() seeds only after the model exists.
    torch.manual_seed(cnn["seed"])
    backbone = cnn["backbone"]
    model = GhoshNet(input_size=cnn["input_size"], hidden=cnn["hidden"], dropout=cnn["dropout"], backbone=backbone)
    spec = cnn["pretrained"]
    if spec == "none":
        log.warning("convolutional layers start from random initialisation (pretrained: none)")
    elif backbone == "alexnet":  # torchvision's file, hash-checked (nets.pretrained)
        report = load_features_state(model, load_pretrained_features(spec, weights_cache))
        log.info("loaded pretrained AlexNet convolutional layers (%s): %s", spec, report)
    else:
        from leukoflow.nets.backbones import build_backbone

        model.features.load_state_dict(build_backbone(backbone, spec, weights_cache).state_dict())
        log.info("loaded pretrained %s convolutional layers (%s)", backbone, spec)
    return model


def train_fold(
    *,
    bag_paths: Sequence[str],
    fold: int,
    cnn: dict,
    compute: dict,
    threads: int,
    state_dir: str,
    weights_cache: str,
    model_out: str,
    history_out: str,
    predictions_out: str,
    index_path: str,
) -> dict:
    train_bags, val_bag, test_bag = BAG_FOLDS[fold - 1]
    train_x, train_y, _ = load_bags(bag_paths, train_bags)
    val_x, val_y, _ = load_bags(bag_paths, [val_bag])
    test_x, test_y, test_rows = load_bags(bag_paths, [test_bag])
    log.info(
        "fold %d: train %s (%d images), val B%d (%d), test B%d (%d)",
        fold,
        train_bags,
        len(train_y),
        val_bag,
        len(val_y),
        test_bag,
        len(test_y),
    )
    model = build_network(cnn, weights_cache)
    cfg = train_config(cnn, compute, threads)
    if cnn["frozen_stages"]:
        data = {"train": (train_x, train_y), "val": (val_x, val_y), "test": (test_x, test_y)}
        summary, probabilities = fit_above_frozen_stages(
            model, cnn["frozen_stages"], data, cfg, state_dir, model_out, history_out
        )
    else:
        summary = fit(
            model,
            train_x,
            train_y,
            val_x,
            val_y,
            cfg,
            state_dir,
            model_out,
            history_out,
            normalisation=model.normalisation,
        )
        device = job_device(cfg.accelerator, cfg.allow_cpu_fallback)
        probabilities = predict_proba(
            load_exported(model_out),
            test_x,
            batch_size=cnn["batch_size"],
            device=device,
            normalisation=model.normalisation,
        )
    log.info("fold %d trained: %s", fold, summary)
    index = read_tsv(index_path)
    rows = index.set_index("row").loc[test_rows.numpy()]
    predictions = pd.DataFrame(
        {
            "row": test_rows.numpy(),
            "id": rows["id"].to_numpy(),
            "source_id": rows["source_id"].to_numpy(),
            "angle": rows["angle"].to_numpy(),
            "mirrored": rows["mirrored"].to_numpy(),
            "label": test_y.numpy(),
            "prob_all": probabilities[:, 1],
            "pred": probabilities.argmax(axis=1),
        }
    )
    write_table_atomic(predictions, predictions_out)
    accuracy = float((predictions["pred"] == predictions["label"]).mean())
    log.info("fold %d test accuracy %.4f on %d images", fold, accuracy, len(predictions))
    return {**summary, "test_accuracy": accuracy}
