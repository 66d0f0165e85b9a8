"""One-to-one matching of detected cell centres to annotated ones, and detection metrics.

ALL-IDB1's `.xyc` files give blast centroids; a detection counts as a true positive when it can
be paired with an annotation no farther than a radius, each annotation used at most once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist


class Match(NamedTuple):
    tp: int
    fp: int
    fn: int
    pairs: np.ndarray
    """(K, 2) int64: (index into pred_xy, index into true_xy) of each matched pair."""


def _points(points: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 2))
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must be an (N, 2) array of (x, y), got shape {array.shape}")
    return array


def match_points(pred_xy: np.ndarray, true_xy: np.ndarray, radius: float) -> Match:
    """Pair predictions with annotations one-to-one within `radius` pixels.

    The pairing has the largest possible number of pairs within the radius and, among those, the
    smallest total distance: `linear_sum_assignment` on the distance matrix, with every distance
    beyond the radius replaced by a penalty larger than any sum of in-radius distances (so one
    more in-radius pair always beats any saving in distance); assigned pairs beyond the radius
    are then discarded. Returns `Match(tp, fp, fn, pairs)`.
    """
    if radius <= 0:
        raise ValueError(f"matching radius must be positive, got {radius}")
    pred, true = _points(pred_xy, "pred_xy"), _points(true_xy, "true_xy")
    if len(pred) == 0 or len(true) == 0:
        return Match(0, len(pred), len(true), np.zeros((0, 2), dtype=np.int64))
    distance = cdist(pred, true)
    within = distance <= radius
    penalty = radius * min(len(pred), len(true)) + 1.0
    rows, cols = linear_sum_assignment(np.where(within, distance, penalty))
    keep = within[rows, cols]
    pairs = np.column_stack([rows[keep], cols[keep]]).astype(np.int64)
    tp = len(pairs)
    return Match(tp, len(pred) - tp, len(true) - tp, pairs)


def cell_metrics(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 from match counts (pool counts over slides before calling).

    A ratio whose denominator is 0 is NaN (e.g. precision with no detections), not 0 or 1:
    there is nothing to measure, and a summary should say so rather than invent a value.
    """
    if min(tp, fp, fn) < 0:
        raise ValueError(f"counts must be non-negative, got tp={tp} fp={fp} fn={fn}")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}
