"""Metrics with confidence intervals: binary and multi-class; ROC points and AUC.

Papers in this field report point estimates only; an interval says how much one number can be
trusted. Binary proportions get Wilson intervals, the binary F-score a posterior interval under
Jeffreys' prior, everything else a bootstrap, over samples or, where samples are grouped (cells of
one subject, pixels of one image), over groups. Undefined
ratios (zero denominators) come back as NaN, never as an exception or a silent 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

BINARY_METRIC_NAMES = ("accuracy", "specificity", "sensitivity", "f_score")
"""The metrics of a binary table (Ghosh et al.'s Tables I and II), in column order."""

PROPORTIONS = {
    # name: (numerator counts, denominator counts)
    "accuracy": (("tp", "tn"), ("tp", "tn", "fp", "fn")),
    "specificity": (("tn",), ("tn", "fp")),
    "sensitivity": (("tp",), ("tp", "fn")),
    "precision": (("tp",), ("tp", "fp")),
}


def confusion_counts(y_true: Sequence, y_pred: Sequence, positive=1) -> dict[str, int]:
    """tp, tn, fp, fn for a binary problem: `positive` is the positive class, every other value negative."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got shapes {y_true.shape} and {y_pred.shape}")
    true_pos = y_true == positive
    pred_pos = y_pred == positive
    return {
        "tp": int(np.count_nonzero(true_pos & pred_pos)),
        "tn": int(np.count_nonzero(~true_pos & ~pred_pos)),
        "fp": int(np.count_nonzero(~true_pos & pred_pos)),
        "fn": int(np.count_nonzero(true_pos & ~pred_pos)),
    }


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts[true, predicted] for integer classes 0..n_classes-1 (vectorised with bincount)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"labels and predictions must be 1-D of equal length, got {y_true.shape} and {y_pred.shape}")
    for name, values in (("labels", y_true), ("predictions", y_pred)):
        if len(values) and (values.min() < 0 or values.max() >= n_classes):
            raise ValueError(f"{name} must lie in 0..{n_classes - 1}, got values {sorted(set(values.tolist()))}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def wilson_interval(successes: int, trials: int, ci: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (no continuity correction).

    centre = (p + z^2 / 2n) / (1 + z^2 / n),  half = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
    with p = successes / n and z the two-sided standard-normal quantile for `ci`. Unlike the
    Wald interval it stays inside [0, 1] and does not collapse to zero width at p = 0 or 1, which
    matters here because per-fold scores near 100 % are common. Same formula as
    scipy.stats.binomtest(...).proportion_ci(method="wilson"). trials = 0 gives (NaN, NaN).
    """
    check_ci(ci)
    if trials == 0:
        return float("nan"), float("nan")
    z = NormalDist().inv_cdf(0.5 + ci / 2)
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * np.sqrt(p * (1 - p) / trials + z2n / (4 * trials))
    # Analytically low <= p <= high (exactly 0 at p = 0, exactly 1 at p = 1); clamp so float
    # round-off (e.g. 0.9999999999999999 at p = 1) cannot push the estimate outside its interval.
    return float(max(0.0, min(centre - half, p))), float(min(1.0, max(centre + half, p)))


def f_score_from_counts(tp, fp, fn):
    """F1 = 2 tp / (2 tp + fp + fn), elementwise; NaN where there is no positive at all (0 / 0)."""
    tp, fp, fn = (np.asarray(value, dtype=np.float64) for value in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), np.nan)


def binary_metrics(tp: int, tn: int, fp: int, fn: int, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> dict:
    """Accuracy, specificity, sensitivity (recall), precision and F-score with `ci` intervals.

    Keys: tp, tn, fp, fn, n, ci, and for each metric `<name>`, `<name>_ci_low`, `<name>_ci_high`.
    - Proportions: point estimate numerator / denominator, Wilson score interval (`wilson_interval`).
    - F-score: not a binomial proportion, so its interval comes from n_boot draws of the four
      cell probabilities from their posterior under Jeffreys' prior, Dirichlet(counts + 1/2), and
      the F-score of each draw, 2 p_tp / (2 p_tp + p_fp + p_fn); the central `ci` share of the
      draws is the interval. Unlike a bootstrap that resamples the observed frequencies, it does
      not collapse to a point when a cell is empty (a perfect score on 8 slides is not certain).
    - Zero denominators (e.g. no predicted positives -> precision; no positives at all -> F) give
      NaN for the estimate and both bounds.
    """
    counts = {"tp": tp, "tn": tn, "fp": fp, "fn": fn}
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    counts = {name: int(value) for name, value in counts.items()}
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    check_ci(ci)
    n = sum(counts.values())
    result: dict = {**counts, "n": n, "ci": ci}

    for name, (numerator_keys, denominator_keys) in PROPORTIONS.items():
        numerator = sum(counts[key] for key in numerator_keys)
        denominator = sum(counts[key] for key in denominator_keys)
        result[name] = numerator / denominator if denominator else float("nan")
        result[f"{name}_ci_low"], result[f"{name}_ci_high"] = wilson_interval(numerator, denominator, ci)

    f_point = float(f_score_from_counts(tp, fp, fn))
    result["f_score"] = f_point
    if np.isnan(f_point):
        result["f_score_ci_low"] = result["f_score_ci_high"] = float("nan")
    else:
        rng = np.random.default_rng(seed)
        observed = np.array([counts["tp"], counts["tn"], counts["fp"], counts["fn"]], dtype=np.float64)
        draws = rng.dirichlet(observed + 0.5, size=n_boot)  # (n_boot, 4) probabilities: tp, tn, fp, fn
        f_draws = f_score_from_counts(draws[:, 0], draws[:, 2], draws[:, 3])
        low, high = np.quantile(f_draws, [0.5 - ci / 2, 0.5 + ci / 2])
        # The observed score stays inside its interval (a perfect score's draws are all below 1).
        result["f_score_ci_low"], result["f_score_ci_high"] = float(min(low, f_point)), float(max(high, f_point))
    return result


def roc_points(y_true: Sequence, scores: Sequence[float], positive=1) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve (fpr, tpr) and its area for scores where larger means `positive`.

    Raises ValueError when y_true holds only one class: the curve is undefined there and a silent
    NaN would hide, e.g., a test split that lost a class.
    """
    from sklearn.metrics import auc, roc_curve

    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    if y_true.shape != scores.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-D of equal length, got shapes {y_true.shape} and {scores.shape}")
    is_positive = y_true == positive
    if is_positive.all() or not is_positive.any():
        raise ValueError("ROC needs both positive and negative examples in y_true")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    fpr, tpr, _ = roc_curve(is_positive, scores)
    return fpr, tpr, float(auc(fpr, tpr))


def check_ci(ci: float) -> None:
    if not 0 < ci < 1:
        raise ValueError(f"ci must be strictly between 0 and 1, got {ci!r}")


# ---------------------------------------------------------------------------------------------
# Multi-class reports with bootstrap intervals


def bootstrap_weights(n_groups: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_groups) multiplicities of a nonparametric bootstrap over groups."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot).astype(np.float64)


def _report_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, f1 and support, their macro and support-weighted means, and
    accuracy, from confusion matrices (..., K, K) [true, predicted]; vectorised over leading axes."""
    confusion = np.asarray(confusion, dtype=np.float64)
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    support = confusion.sum(axis=-1)
    predicted = confusion.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), np.nan)
        recall = np.where(support > 0, tp / np.where(support > 0, support, 1), np.nan)
        denominator = support + predicted
        f1 = np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), np.nan)
        total = support.sum(axis=-1, keepdims=True)
        weights = support / np.where(total > 0, total, 1)
    result = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    for name in ("precision", "recall", "f1"):
        values = result[name]
        result[f"macro_{name}"] = np.nanmean(np.where(np.isnan(values), np.nan, values), axis=-1)
        result[f"weighted_{name}"] = np.nansum(np.nan_to_num(values) * weights, axis=-1)
    result["accuracy"] = tp.sum(axis=-1) / np.where(total[..., 0] > 0, total[..., 0], 1)
    return result


def multiclass_report(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    class_names: Sequence[str],
    groups: Sequence | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support, then macro and weighted averages and accuracy,
    each with a bootstrap interval.

    Parameters
    ----------
    y_true, y_pred : sequence of int
        Class indices 0..K-1 (the manifest `label` convention).
    class_names : sequence of str
        Names of the K classes, in label order.
    groups : sequence, optional
        Per-sample group (subject, source image). The bootstrap then resamples whole groups,
        because samples of one group are not independent; None resamples samples.
    n_boot, seed, ci : int, int, float
        Bootstrap draws, their seed, interval coverage (percentile interval).

    Returns
    -------
    pandas.DataFrame
        Rows: each class, "macro avg", "weighted avg", "accuracy"; columns precision, recall, f1
        (each with `_ci_low`, `_ci_high`) and support. Averages follow scikit-learn's
        `classification_report` (undefined per-class values are NaN, left out of the macro mean).

    Raises
    ------
    ValueError
        When labels fall outside 0..K-1 or the inputs disagree in length.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    names = list(class_names)
    k = len(names)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {y_true.shape} and {y_pred.shape}")
    check_ci(ci)
    point = _report_from_confusion(confusion_matrix(y_true, y_pred, k))
    group_ids = np.arange(len(y_true)) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(group_ids.max()) + 1 if len(group_ids) else 0
    # Per-group confusion matrices, flattened: a bootstrap draw is then one weighted sum.
    per_group = np.zeros((n_groups, k * k))
    np.add.at(per_group, (group_ids, y_true * k + y_pred), 1.0)
    boot = _report_from_confusion((bootstrap_weights(n_groups, n_boot, seed) @ per_group).reshape(-1, k, k))
    low_q, high_q = 0.5 - ci / 2, 0.5 + ci / 2

    def interval(values: np.ndarray) -> tuple[float, float]:
        values = values[~np.isnan(values)]
        if not len(values):
            return float("nan"), float("nan")
        low, high = np.quantile(values, [low_q, high_q])
        return float(low), float(high)

    rows = []
    for index, name in enumerate(names):
        row = {"class": name, "support": int(point["support"][index])}
        for metric in ("precision", "recall", "f1"):
            row[metric] = float(point[metric][index])
            row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = interval(boot[metric][:, index])
        rows.append(row)
    for average in ("macro", "weighted"):
        row = {"class": f"{average} avg", "support": int(point["support"].sum())}
        for metric in ("precision", "recall", "f1"):
            row[metric] = float(point[f"{average}_{metric}"])
            row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = interval(boot[f"{average}_{metric}"])
        rows.append(row)
    accuracy = {"class": "accuracy", "support": int(point["support"].sum()), "f1": float(point["accuracy"])}
    accuracy["f1_ci_low"], accuracy["f1_ci_high"] = interval(boot["accuracy"])
    rows.append(accuracy)
    columns = ["class"] + [f"{m}{s}" for m in ("precision", "recall", "f1") for s in ("", "_ci_low", "_ci_high")]
    return pd.DataFrame(rows, columns=[*columns, "support"])


def grouped_auc(
    y_true: Sequence[int],
    scores: Sequence[float],
    groups: Sequence,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> tuple[float, float, float]:
    """ROC AUC of `scores` for class 1, with a percentile interval from a bootstrap over groups.

    Parameters
    ----------
    y_true : sequence of int
        0 / 1 per sample.
    scores : sequence of float
        Higher means class 1.
    groups : sequence
        Per-sample group (subject): a draw resamples whole groups, as `multiclass_report` does.
    n_boot, seed, ci : int, int, float
        Bootstrap draws, their seed, interval coverage.

    Returns
    -------
    (auc, ci_low, ci_high) : tuple of float
        NaN throughout when one class is missing; draws holding one class only are skipped.

    Raises
    ------
    ValueError
        When the inputs disagree in length or `ci` is outside (0, 1).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if y_true.shape != scores.shape or len(groups) != len(y_true):
        raise ValueError(
            f"y_true, scores and groups must have equal lengths, got {len(y_true)}, {len(scores)}, {len(groups)}"
        )
    check_ci(ci)
    if len(np.unique(y_true)) < 2:
        return float("nan"), float("nan"), float("nan")
    group_ids = np.unique(np.asarray(groups), return_inverse=True)[1]
    # A draw's multiplicity of each group weights that group's samples; all draws at once.
    weights = bootstrap_weights(int(group_ids.max()) + 1, n_boot, seed)[:, group_ids]
    point, draws = _weighted_auc(y_true, scores, np.ones((1, len(y_true)))), _weighted_auc(y_true, scores, weights)
    draws = draws[~np.isnan(draws)]  # draws that hold one class only
    low, high = np.quantile(draws, [0.5 - ci / 2, 0.5 + ci / 2]) if len(draws) else (float("nan"), float("nan"))
    return float(point[0]), float(low), float(high)


def _weighted_auc(y_true: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC of every row of `weights` (draws, samples): the weighted Mann-Whitney statistic, ties
    counting one half (scikit-learn's roc_auc_score with sample_weight), vectorised over draws."""
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # one bin per distinct score
    positive = y_true[order] == 1
    w = weights[:, order]
    pos = np.add.reduceat(w * positive, starts, axis=1)
    neg = np.add.reduceat(w * ~positive, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    numerator = (pos * (below + 0.5 * neg)).sum(axis=1)
    denominator = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)
