"""Rules ukm_train_unet and ukm_train_classifier: one U-Net fold, and the three-class crop classifier.

Both go through `training.fit` (Lightning): the U-Net as a segmenter with the paper's dice loss
(or cross-entropy, for the comparison the paper reports), the classifier with negative
log-likelihood weighted against the class imbalance. Validation sets for early stopping are cut
from the training images by source image; only the remaining training images are augmented
(`ukm.augment`, on the job's device).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from leukoflow.core.device import job_device
from leukoflow.core.images import resize_batch
from leukoflow.core.io import read_tsv, write_table_atomic
from leukoflow.core.splits import group_labels, group_train_val_split
from leukoflow.data.datasets import DATASETS
from leukoflow.inference import input_normalisation, load_exported, predict_proba
from leukoflow.nets.five_layer_cnn import FiveLayerCNN
from leukoflow.nets.small_cnn import SmallCNN
from leukoflow.nets.unet import UNet
from leukoflow.training.config import TrainConfig, runtime_settings
from leukoflow.training.fit import fit
from leukoflow.ukm.augment import rotate_zoom
from leukoflow.ukm.preprocess import group_strata, held_out_rows, load_preprocessed, read_index

log = logging.getLogger(__name__)

CLASSES = DATASETS["ukm"].classes


def train_config(
    settings: Mapping, compute: Mapping, threads: int, loss: str, monitor: str = "val_loss"
) -> TrainConfig:
    """The trainer's settings from a `ukm.unet` or `ukm.classifier` section and `compute`."""
    return TrainConfig(
        epochs=settings["epochs"],
        lr=settings["lr"],
        optimizer=settings["optimizer"],
        schedule="none",
        lr_decay=0.0,
        early_stopping_patience=settings["early_stopping_patience"] or None,
        loss=loss,
        batch_size=settings["batch_size"],
        seed=settings["seed"],
        monitor=monitor,
        **runtime_settings(compute, threads),
    )


def balanced_class_weights(labels: Sequence[int], n_classes: int) -> tuple[float, ...]:
    """n / (K * n_c) per class (scikit-learn's "balanced"); a class absent from `labels` gets 1.

    For the published counts (neutrophil 445, promyelocyte 175, lymphoblast 768 of 1388) these are
    1.04, 2.64 and 0.60: a promyelocyte error costs 4.4 lymphoblast errors.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 1.0)
    return tuple(float(w) for w in weights)


def resolve_class_weights(spec, labels: Sequence[int], n_classes: int) -> tuple[float, ...] | None:
    """`ukm.classifier.class_weights`: "balanced", "none" or an explicit list (label order)."""
    if spec == "balanced":
        return balanced_class_weights(labels, n_classes)
    if spec in (None, "none"):
        return None
    weights = tuple(float(w) for w in spec)
    if len(weights) != n_classes:
        raise ValueError(f"ukm.classifier.class_weights: {len(weights)} weights for {n_classes} classes")
    return weights


def validation_mask(groups, labels, fraction: float, seed: int) -> np.ndarray:
    """Rows held out for early stopping: about `fraction` of each class's source images (a source
    id in several classes counts as its smallest label's, `preprocess.group_strata`).

    A class with one source image keeps it for training; when that leaves no validation image at
    all (tiny sets), one source image of the class with the most is held out instead.

    Raises
    ------
    ValueError
        With fewer than two source images, which cannot give both a training and a validation set.
    """
    groups = np.asarray(groups)
    labels = group_strata(groups, labels)
    if len(np.unique(groups)) < 2:
        raise ValueError(f"{len(np.unique(groups))} source image(s) cannot give training and validation images")
    _, val = group_train_val_split(groups, labels, fraction, seed=seed)
    if not val.any():
        _, group_label, row_group = group_labels(groups, labels)
        largest = np.bincount(group_label.astype(np.int64)).argmax()
        candidates = np.flatnonzero(group_label == largest)
        val = row_group == np.random.default_rng(seed).choice(candidates)
    return val


def train_unet(
    *,
    images_path: str,
    index_path: str,
    fold: int,
    loss: str,
    unet: Mapping,
    augment: Mapping,
    compute: Mapping,
    threads: int,
    state_dir: str,
    model_out: str,
    history_out: str,
) -> dict:
    """Train the U-Net of one cross-validation fold on the other folds' images, or (`fold` 0,
    `HOLDOUT_FOLD`) the paper's 70/30 hold-out on the classifier's training images."""
    data = load_preprocessed(images_path)
    index = read_index(index_path)
    held_out = held_out_rows(index, fold)
    rows = index["row"].to_numpy()[~held_out]
    if len(rows) == 0:
        raise ValueError(
            f"U-Net fold {fold}: no training images (folds in the index: {sorted(index['unet_fold'].unique())})"
        )
    val = validation_mask(
        index.loc[rows, "source_id"], index.loc[rows, "label"], unet["val_fraction"], unet["seed"] + fold
    )
    fit_rows, val_rows = rows[~val], rows[val]
    device = job_device(compute["accelerator"], compute["allow_cpu_fallback"])
    train_x, train_y, _ = rotate_zoom(
        data["grey"][fit_rows],
        data["masks"][fit_rows],
        angles_deg=augment["angles"],
        zoom=augment["zoom"],
        seed=augment["seed"] + fold,
        device=device,
    )
    log.info(
        "U-Net fold %d (%s loss): %d training images (x%d augmented = %d), %d validation, %d held out",
        fold,
        loss,
        len(fit_rows),
        len(train_x) // max(1, len(fit_rows)),
        len(train_x),
        len(val_rows),
        int(held_out.sum()),
    )
    torch.manual_seed(unet["seed"])  # the initial weights are part of the result
    model = UNet(in_channels=1, out_channels=1, features=unet["features"], norm=unet["norm"])
    cfg = train_config(unet, compute, threads, loss)
    summary = fit(
        model,
        train_x,
        train_y,
        data["grey"][val_rows],
        data["masks"][val_rows],
        cfg,
        state_dir,
        model_out,
        history_out,
        task="segmenter",
        normalisation="unit",
    )
    log.info("U-Net fold %d (%s) trained: %s", fold, loss, summary)
    return summary


def classifier_inputs(crops: Mapping[str, torch.Tensor], switches: Mapping) -> torch.Tensor:
    """The classifier's uint8 inputs from the ROI crops: the crop itself, or (`masked`, the paper's
    segmented image) the crop with every pixel outside its own nucleus set to 0; resized to
    `input_size`."""
    images = crops["images"]
    if switches["classifier_input"] == "masked":
        images = images * crops["masks"].to(images.dtype)  # (M, 1, S, S) of 0/1 broadcast over colour
    return resize_batch(images, int(switches["input_size"]))


def build_classifier(switches: Mapping, classifier: Mapping) -> torch.nn.Module:
    """The paper's five-layer network or our SmallCNN, for three classes."""
    if switches["network"] == "five_layer":
        return FiveLayerCNN(len(CLASSES), input_size=int(switches["input_size"]), dropout=classifier["dropout"])
    return SmallCNN(len(CLASSES), widths=classifier["widths"], dropout=classifier["dropout"])


def train_classifier(
    *,
    crops_path: str,
    crops_index_path: str,
    classifier: Mapping,
    switches: Mapping,
    augment: Mapping,
    compute: Mapping,
    threads: int,
    state_dir: str,
    model_out: str,
    history_out: str,
    predictions_out: str,
) -> dict:
    """Train on the crops of the classifier's training images, predict those of its test images;
    `switches` (`ukm.methods.switches`) say which input and network."""
    crops = torch.load(crops_path, map_location="cpu", weights_only=True)
    images = classifier_inputs(crops, switches)
    index = read_tsv(crops_index_path)
    train_rows = np.flatnonzero(index["classifier_split"].to_numpy() == "train")
    test_rows = np.flatnonzero(index["classifier_split"].to_numpy() == "test")
    if len(train_rows) == 0 or len(test_rows) == 0:
        raise ValueError(
            f"{crops_index_path}: {len(train_rows)} training and {len(test_rows)} test crops; the U-Net found "
            "no nucleus in too many images to train and test the classifier"
        )
    val = validation_mask(
        index.loc[train_rows, "source_id"],
        index.loc[train_rows, "label"],
        classifier["val_fraction"],
        classifier["seed"],
    )
    fit_rows, val_rows = train_rows[~val], train_rows[val]
    labels = crops["labels"]
    weights = resolve_class_weights(classifier["class_weights"], labels[fit_rows].numpy(), len(CLASSES))
    device = job_device(compute["accelerator"], compute["allow_cpu_fallback"])
    train_x, _, sources = rotate_zoom(
        images[fit_rows],
        angles_deg=augment["angles"],
        zoom=augment["zoom"],
        seed=augment["seed"],
        device=device,
    )
    train_y = labels[fit_rows][sources]
    log.info(
        "classifier (%s input, %s network, %d px): %d training crops (x%d augmented = %d), %d validation, "
        "%d test; class weights %s (%s)",
        switches["classifier_input"],
        switches["network"],
        int(switches["input_size"]),
        len(fit_rows),
        len(train_x) // max(1, len(fit_rows)),
        len(train_x),
        len(val_rows),
        len(test_rows),
        None if weights is None else dict(zip(CLASSES, np.round(weights, 3))),
        classifier["class_weights"],
    )
    torch.manual_seed(classifier["seed"])
    model = build_classifier(switches, classifier)
    cfg = train_config(classifier, compute, threads, "nll")
    cfg.class_weights = weights
    summary = fit(
        model,
        train_x,
        train_y,
        images[val_rows],
        labels[val_rows],
        cfg,
        state_dir,
        model_out,
        history_out,
        normalisation="unit",
    )
    best = load_exported(model_out)
    probabilities = predict_proba(
        best,
        images[test_rows],
        batch_size=classifier["batch_size"],
        device=device,
        normalisation=input_normalisation(model_out),
    )
    test = index.loc[test_rows].reset_index(drop=True)
    predictions = test[["crop", "row", "id", "source_id", "label", "class_name", "component", "largest"]].copy()
    predictions["pred"] = probabilities.argmax(axis=1)
    predictions["pred_class"] = np.asarray(CLASSES)[predictions["pred"].to_numpy()]
    for position, name in enumerate(CLASSES):
        predictions[f"prob_{name}"] = probabilities[:, position]
    write_table_atomic(predictions, predictions_out)
    accuracy = float((predictions["pred"] == predictions["label"]).mean())
    log.info("classifier trained: %s; test accuracy %.4f on %d crops", summary, accuracy, len(predictions))
    return {**summary, "test_accuracy": accuracy, "class_weights": weights}
