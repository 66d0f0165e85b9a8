"""Segmentation metrics pooled over images, with bootstrap intervals over images or groups.

Pixels of one image are not independent, so the bootstrap resamples images (or the groups they
belong to), as `leukoflow.core.metrics` does for cells of one subject.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leukoflow.core.metrics import bootstrap_weights, check_ci

SEGMENTATION_METRICS = ("pixel_accuracy", "dice", "iou", "precision", "recall")


def pixel_counts(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N, 4) int64 counts tp, fp, fn, tn per image of boolean masks (N, H, W)."""
    predicted = np.asarray(predicted, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    if predicted.shape != truth.shape or predicted.ndim != 3:
        raise ValueError(f"masks must be (N, H, W) of equal shape, got {predicted.shape} and {truth.shape}")
    flat_p = predicted.reshape(len(predicted), -1)
    flat_t = truth.reshape(len(truth), -1)
    tp = np.count_nonzero(flat_p & flat_t, axis=1)
    fp = np.count_nonzero(flat_p & ~flat_t, axis=1)
    fn = np.count_nonzero(~flat_p & flat_t, axis=1)
    tn = flat_p.shape[1] - tp - fp - fn
    return np.stack([tp, fp, fn, tn], axis=1).astype(np.int64)


def _segmentation_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    counts = np.asarray(counts, dtype=np.float64)
    tp, fp, fn, tn = (counts[..., i] for i in range(4))

    def ratio(numerator, denominator):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)

    return {
        "pixel_accuracy": ratio(tp + tn, tp + fp + fn + tn),
        "dice": ratio(2 * tp, 2 * tp + fp + fn),
        "iou": ratio(tp, tp + fp + fn),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
    }


def segmentation_metrics(
    counts: np.ndarray, groups: Sequence | None = None, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
) -> dict[str, float]:
    """Pixel accuracy, Dice, IoU, precision and recall pooled over images, with bootstrap intervals.

    Parameters
    ----------
    counts : numpy.ndarray
        (N, 4) tp, fp, fn, tn per image (`pixel_counts`).
    groups : sequence, optional
        Per-image group; the bootstrap resamples groups (default: images), since pixels of one
        image are not independent.

    Returns
    -------
    dict
        `<metric>`, `<metric>_ci_low`, `<metric>_ci_high` for each of SEGMENTATION_METRICS (pooled
        counts: "micro"), `mean_dice` (the mean of per-image Dice, the usual U-Net report) with its
        interval, and n_images.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[1] != 4:
        raise ValueError(f"counts must be (N, 4) tp, fp, fn, tn, got shape {counts.shape}")
    check_ci(ci)
    group_ids = np.arange(len(counts)) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(group_ids.max()) + 1 if len(counts) else 0
    per_group = np.zeros((n_groups, 4))
    np.add.at(per_group, group_ids, counts)
    weights = bootstrap_weights(n_groups, n_boot, seed)
    point = _segmentation_from_counts(counts.sum(axis=0))
    boot = _segmentation_from_counts(weights @ per_group)
    per_image_dice = _segmentation_from_counts(counts)["dice"]
    group_dice_sum = np.zeros(n_groups)
    group_images = np.zeros(n_groups)
    valid = ~np.isnan(per_image_dice)
    np.add.at(group_dice_sum, group_ids[valid], per_image_dice[valid])
    np.add.at(group_images, group_ids[valid], 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot_mean_dice = (weights @ group_dice_sum) / (weights @ group_images)
    result: dict[str, float] = {"n_images": int(len(counts))}
    quantiles = [0.5 - ci / 2, 0.5 + ci / 2]
    for name, value, draws in [
        *((m, point[m], boot[m]) for m in SEGMENTATION_METRICS),
        ("mean_dice", np.nanmean(per_image_dice) if valid.any() else np.nan, boot_mean_dice),
    ]:
        result[name] = float(value)
        draws = draws[~np.isnan(draws)]
        low, high = np.quantile(draws, quantiles) if len(draws) else (np.nan, np.nan)
        result[f"{name}_ci_low"], result[f"{name}_ci_high"] = float(low), float(high)
    return result
