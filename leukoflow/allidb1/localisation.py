"""Does the heatmap mark the white cells? Measured on every slide and pooled over slides; the
improved method's polarity calibration (`calibrated_polarity`) uses the one measure that needs no
annotation, the eosin-positive pixels.

The paper's premise (Ghosh, Singh & Sheet 2017, III-B) is that "filters show higher excitation at
the position of the WBCs". Each measure is an AUC of the heatmap (the slide's own [0, 1] map, at
slide size): the probability that a white-cell location scores higher than a location elsewhere
(0.5: no localisation; 1: perfect; below 0.5: the map points the wrong way).

  pixel_auc          synthetic slides: white-cell pixels (disks of the generator's radii) against
                     every other pixel.
  pixel_auc_in_eosin synthetic slides: the same, among eosin-positive pixels only: what the
                     heatmap adds to the eosin threshold (the paper uses both).
  point_auc          every slide with blasts: heat at the `.xyc` blast centres against random
                     background points at least one white-cell diameter from every blast.
  eosin_auc          every slide: eosin-positive pixels against the rest (and the mean heat
                     inside and outside the eosin mask).

AUCs are computed from 1024-bin histograms of the heat values (ties within 1/1023 count half),
so per-slide histograms sum into exact pooled AUCs.
"""

from __future__ import annotations

import math

import numpy as np

BINS = 1024
MEASURES = ("pixel_auc", "pixel_auc_in_eosin", "point_auc", "eosin_auc")
LOCALISES, INVERTED = 0.7, 0.3  # pooled AUC at or above: the heatmap localises; at or below: inverted
PURE = 0.95  # an eosin mask this much white cell leaves the heatmap nothing to reject


def histograms(scores: np.ndarray, truth: np.ndarray, bins: int = BINS) -> np.ndarray:
    """(2, bins) int64: counts of positive (row 0) and negative (row 1) scores per bin of [0, 1]."""
    index = np.clip(np.rint(np.asarray(scores, np.float32).ravel() * (bins - 1)), 0, bins - 1).astype(np.int64)
    truth = np.asarray(truth, bool).ravel()
    if index.shape != truth.shape:
        raise ValueError(f"{index.size} scores but {truth.size} truth values")
    return np.stack([np.bincount(index[truth], minlength=bins), np.bincount(index[~truth], minlength=bins)])


def auc_from_histograms(counts: np.ndarray) -> float:
    """AUC (Mann-Whitney, ties half) of `histograms` output; NaN without positives or negatives."""
    positive, negative = np.asarray(counts, np.float64)
    if positive.sum() == 0 or negative.sum() == 0:
        return float("nan")
    below = np.cumsum(negative) - negative
    return float((positive * (below + 0.5 * negative)).sum() / (positive.sum() * negative.sum()))


def binned_auc(scores: np.ndarray, truth: np.ndarray) -> float:
    """AUC of [0, 1] scores for boolean truth (see the module docstring)."""
    return auc_from_histograms(histograms(scores, truth))


def disk_mask(shape: tuple[int, int], cells_xyr: np.ndarray) -> np.ndarray:
    """Bool (H, W), True inside any disk (x, y, radius) of `cells_xyr` (one box per cell)."""
    height, width = shape
    mask = np.zeros(shape, bool)
    for x, y, radius in np.asarray(cells_xyr, np.float64).reshape(-1, 3):
        top, bottom = max(int(y - radius) - 1, 0), min(int(y + radius) + 2, height)
        left, right = max(int(x - radius) - 1, 0), min(int(x + radius) + 2, width)
        if bottom <= top or right <= left:
            continue
        yy, xx = np.ogrid[top:bottom, left:right]
        mask[top:bottom, left:right] |= (xx - x) ** 2 + (yy - y) ** 2 <= radius**2
    return mask


def background_points(
    shape: tuple[int, int], avoid_xy: np.ndarray, min_distance: float, n: int, seed: int = 0
) -> np.ndarray:
    """Up to `n` random (x, y) pixels at least `min_distance` from every point of `avoid_xy`."""
    rng = np.random.default_rng(seed)
    height, width = shape
    candidates = np.column_stack([rng.integers(0, width, 4 * n), rng.integers(0, height, 4 * n)])
    avoid = np.asarray(avoid_xy, np.float64).reshape(-1, 2)
    if len(avoid):
        gap = np.sqrt(((candidates[:, None, :] - avoid[None, :, :]) ** 2).sum(-1)).min(axis=1)
        candidates = candidates[gap >= min_distance]
    return candidates[:n]


def slide_localisation(
    heat: np.ndarray,
    eosin: np.ndarray,
    blasts_xy: np.ndarray,
    diameter: float,
    cells_xyr: np.ndarray | None = None,
    n_background: int = 2000,
    seed: int = 0,
) -> tuple[dict, dict[str, np.ndarray]]:
    """The measures of one slide (row) and their histograms (for pooling).

    Parameters
    ----------
    heat : (H, W) float in [0, 1], the heatmap at slide size.
    eosin : (H, W) bool, the eosin-positive mask.
    blasts_xy : (N, 2) the `.xyc` blast centres.
    diameter : typical white-cell diameter of the slide, pixels (background points keep this far
        from every blast).
    cells_xyr : (M, 3) every white cell (x, y, radius) when the generator's truth is known.
    """
    heat = np.asarray(heat, np.float32)
    counts = {"eosin_auc": histograms(heat, eosin)}
    row = {
        "heat_in_eosin": float(heat[eosin].mean()) if eosin.any() else float("nan"),
        "heat_outside_eosin": float(heat[~eosin].mean()) if (~eosin).any() else float("nan"),
    }
    blasts = np.asarray(blasts_xy, np.float64).reshape(-1, 2)
    inside = (blasts[:, 0] >= 0) & (blasts[:, 0] < heat.shape[1]) & (blasts[:, 1] >= 0) & (blasts[:, 1] < heat.shape[0])
    blasts = blasts[inside].astype(np.int64)
    if len(blasts):
        background = background_points(heat.shape, blasts, diameter, n_background, seed)
        values = np.concatenate([heat[blasts[:, 1], blasts[:, 0]], heat[background[:, 1], background[:, 0]]])
        truth = np.concatenate([np.ones(len(blasts), bool), np.zeros(len(background), bool)])
        counts["point_auc"] = histograms(values, truth)
    if cells_xyr is not None and len(cells_xyr):
        cells = disk_mask(heat.shape, cells_xyr)
        counts["pixel_auc"] = histograms(heat, cells)
        counts["pixel_auc_in_eosin"] = histograms(heat[eosin], cells[eosin])
        row["white_cell_share_of_eosin"] = float(cells[eosin].mean()) if eosin.any() else float("nan")
        row["eosin_share_of_white_cells"] = float(eosin[cells].mean())
    for name in MEASURES:
        row[name] = auc_from_histograms(counts[name]) if name in counts else float("nan")
    return row, counts


def calibrated_polarity(heat: np.ndarray, eosin: np.ndarray) -> int:
    """-1 when the heatmap is lower on the eosin-positive (stained) pixels than elsewhere (their
    AUC below 0.5), else +1. Label-free, and on the same slide the map is used on: on the demo's
    slides it agreed in sign with the white-cell AUC where a calibration on ALL-IDB2 crops (the
    centred cell against its surround) read 0.51 for a map whose slide AUC was 0.18."""
    return -1 if auc_from_histograms(histograms(heat, eosin)) < 0.5 else 1


def verdict(auc: float, auc_in_eosin: float = float("nan"), eosin_purity: float = float("nan")) -> str:
    """One plain sentence: does the heatmap localise the white cells, or does the eosin threshold?

    `auc`: pooled white-cell AUC (or .xyc point AUC); `auc_in_eosin`: the same among eosin-positive
    pixels; `eosin_purity`: the share of eosin-positive pixels that are white-cell pixels.
    """
    if math.isnan(auc):
        return "Not measured: no slide had white-cell truth or blast annotations."
    if auc <= INVERTED:
        return (
            f"The heatmap points the wrong way (AUC {auc:.2f}): it is high around the white cells, not on them; "
            "thresholding its high side selects background, and the eosin threshold does the work."
        )
    if auc < LOCALISES:
        return (
            f"The heatmap does not localise the white cells (AUC {auc:.2f}, 0.5 is chance): "
            "the eosin threshold does the work."
        )
    text = f"The heatmap localises the white cells (AUC {auc:.2f})"
    if not math.isnan(eosin_purity) and eosin_purity >= PURE:
        return text + (
            f"; but the eosin mask alone is already {100 * eosin_purity:.0f}% white-cell pixels, so the eosin "
            "threshold selects the cells and the heatmap has little left to reject."
        )
    if math.isnan(auc_in_eosin):
        return text + "."
    if auc_in_eosin >= 0.6:
        return text + (
            f" and, within the eosin mask, still separates them from other stained pixels (AUC {auc_in_eosin:.2f}): "
            "both thresholds do work."
        )
    return text + (
        f", but within the eosin mask it adds little (AUC {auc_in_eosin:.2f}): there the eosin threshold does the selecting."
    )
