"""Confusion-matrix metrics with confidence intervals, per-class reports and ROC points.

The ALL-IDB2 paper reports accuracy, specificity, sensitivity, precision and F-score per fold
without intervals; on a test bag of 1872 images an interval says how much a single fold's number
can be trusted. Undefined ratios (zero denominators) come back as NaN, never as an exception or a
silent 0.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Sequence

import numpy as np
import pandas as pd

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


def wilson_interval(successes: int, trials: int, ci: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (no continuity correction).

    centre = (p + z^2 / 2n) / (1 + z^2 / n),  half = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
    with p = successes / n and z the two-sided standard-normal quantile for `ci`. Unlike the
    Wald interval it stays inside [0, 1] and does not collapse to zero width at p = 0 or 1, which
    matters here because per-fold scores near 100 % are common. Same formula as
    scipy.stats.binomtest(...).proportion_ci(method="wilson"). trials = 0 gives (NaN, NaN).
    """
    _check_ci(ci)
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
    - F-score: not a binomial proportion, so its interval is a parametric bootstrap: n_boot
      confusion matrices are drawn at once from Multinomial(n, observed cell frequencies) and the
      percentile interval of their F-scores is taken (bootstrap draws where F is undefined are
      dropped).
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
    _check_ci(ci)
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
        draws = rng.multinomial(n, observed / n, size=n_boot)  # (n_boot, 4): tp, tn, fp, fn
        f_boot = f_score_from_counts(draws[:, 0], draws[:, 2], draws[:, 3])
        f_boot = f_boot[~np.isnan(f_boot)]
        if len(f_boot) == 0:
            result["f_score_ci_low"] = result["f_score_ci_high"] = float("nan")
        else:
            low, high = np.quantile(f_boot, [0.5 - ci / 2, 0.5 + ci / 2])
            result["f_score_ci_low"], result["f_score_ci_high"] = float(low), float(high)
    return result


def per_class_report(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, f1 and support per class, then `macro` and `weighted` rows.

    Labels are class indices 0..len(class_names)-1 (the manifest `label` convention). Columns:
    class, precision, recall, f1, support. A class never predicted (or absent) gets NaN for the
    undefined ratio instead of scikit-learn's default 0 with a warning.
    """
    from sklearn.metrics import precision_recall_fscore_support

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    names = list(class_names)
    labels = np.arange(len(names))
    unknown = np.setdiff1d(np.union1d(y_true, y_pred), labels)
    if len(unknown):
        raise ValueError(f"labels {unknown.tolist()} are outside 0..{len(names) - 1} ({names})")
    rows = []
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=np.nan
    )
    for i, name in enumerate(names):
        rows.append(
            {"class": name, "precision": precision[i], "recall": recall[i], "f1": f1[i], "support": int(support[i])}
        )
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=np.nan
        )
        rows.append({"class": average, "precision": p, "recall": r, "f1": f, "support": int(support.sum())})
    return pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])


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


def _check_ci(ci: float) -> None:
    if not 0 < ci < 1:
        raise ValueError(f"ci must be strictly between 0 and 1, got {ci!r}")
