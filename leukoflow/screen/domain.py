"""Is a screened smear like what the models were trained on? Statistics kept with the models and
the comparison of every screened cell and image with them.

Two kinds of statistics are measured on the training crops, exactly as the networks saw them
(framed, resized to the input size), and stored in the bundle's `domain.npz`:

- stain: the 10th, 50th and 90th percentiles of the haematoxylin, eosin and DAB optical densities
  of each crop (`core.stain.rgb_to_hed`); the training range of each of the nine is its 1st to
  99th percentile over the crops, widened by a tenth of that width. An image is inside when the
  median over its cells of each statistic is; another stain, camera white balance or staining
  time moves them.
- features: the trunk's pooled features of each crop, per fold model (`inference.
  predict_with_features`), reduced to their main components (PCA); a cell's distance is its
  Mahalanobis distance in that subspace (Ledoit-Wolf covariance) and the norm of what the
  subspace leaves out, each over its 99th percentile on held-out training crops (five-fold: the
  statistics fitted without a fifth of the crops, the distances measured on that fifth, so a new
  cell from the training distribution is inside 99% of the time, not the in-sample 99%). A cell
  is like the training cells when both ratios are at most 1 for the mean of the fold models.

What this catches and what it cannot: docs/screen.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STAINS = ("haematoxylin", "eosin", "dab")
QUANTILES = (10, 50, 90)
STAIN_NAMES = tuple(f"{stain}_p{q}" for stain in STAINS for q in QUANTILES)
N_COMPONENTS = 16  # our choice: a few hundred training crops support about this many directions
RANGE_MARGIN = 0.1
FEATURE_PERCENTILE = 99.0


def stain_statistics(crops) -> np.ndarray:
    """(N, 9) float32: the `STAIN_NAMES` percentiles of each uint8 crop (N, 3, S, S)."""
    from leukoflow.core.stain import rgb_to_hed

    crops = np.asarray(crops)
    n = len(crops)
    if n == 0:
        return np.zeros((0, len(STAIN_NAMES)), np.float32)
    side = crops.shape[-1]
    pixels = np.ascontiguousarray(crops.transpose(0, 2, 3, 1)).reshape(n * crops.shape[2], side, 3)
    hed = rgb_to_hed(pixels).reshape(n, -1, 3)
    values = np.percentile(hed, QUANTILES, axis=1)  # (q, N, 3)
    return values.transpose(1, 2, 0).reshape(n, -1).astype(np.float32)


def stain_range(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low, high = np.percentile(train, 1, axis=0), np.percentile(train, 99, axis=0)
    width = high - low
    return (low - RANGE_MARGIN * width).astype(np.float32), (high + RANGE_MARGIN * width).astype(np.float32)


def _fit(features: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.covariance import LedoitWolf

    mean = features.mean(axis=0)
    centred = features - mean
    k = max(1, min(n_components, len(features) - 1, features.shape[1]))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:k]
    precision = LedoitWolf().fit(centred @ components.T).precision_
    return mean, components, precision


def fit_features(
    features: np.ndarray, groups: Sequence | None = None, n_components: int = N_COMPONENTS, folds: int = 5
) -> dict[str, np.ndarray]:
    """The training distribution of pooled features (N, C): mean, components, precision (fitted
    on all crops) and the two thresholds (99th percentiles of held-out distance and residual;
    crops of one `groups` value are held out together)."""
    from sklearn.model_selection import GroupKFold

    features = np.asarray(features, np.float64)
    if len(features) < 2 * folds:
        raise ValueError(f"need at least {2 * folds} training crops to describe their features, got {len(features)}")
    groups = np.arange(len(features)) if groups is None else np.asarray(groups)
    distance, residual = np.zeros(len(features)), np.zeros(len(features))
    for train, held in GroupKFold(n_splits=min(folds, len(set(groups)))).split(features, groups=groups):
        distance[held], residual[held] = _distances(features[held], *_fit(features[train], n_components))
    mean, components, precision = _fit(features, n_components)
    return {
        "mean": mean.astype(np.float32),
        "components": components.astype(np.float32),
        "precision": precision.astype(np.float32),
        "threshold_distance": np.float32(np.percentile(distance, FEATURE_PERCENTILE)),
        "threshold_residual": np.float32(max(np.percentile(residual, FEATURE_PERCENTILE), 1e-6)),
    }


def _distances(features, mean, components, precision) -> tuple[np.ndarray, np.ndarray]:
    centred = np.asarray(features, np.float64) - mean
    scores = centred @ components.T
    distance = np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", scores, precision, scores), 0.0))
    residual = np.linalg.norm(centred - scores @ components, axis=1)
    return distance, residual


def feature_ratio(model_stats: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    """Per cell, the larger of distance and residual over their training thresholds (<= 1: like
    the training crops)."""
    if len(features) == 0:
        return np.zeros(0, np.float32)
    distance, residual = _distances(
        features,
        model_stats["mean"].astype(np.float64),
        model_stats["components"].astype(np.float64),
        model_stats["precision"].astype(np.float64),
    )
    ratio = np.maximum(
        distance / float(model_stats["threshold_distance"]), residual / float(model_stats["threshold_residual"])
    )
    return ratio.astype(np.float32)


def save_domain(path, stain_train: np.ndarray, feature_models: Sequence[dict[str, np.ndarray]]) -> None:
    """The bundle's `domain.npz` (no pickles), written atomically."""
    from leukoflow.core.io import atomic_path

    low, high = stain_range(stain_train)
    arrays = {
        "stain_names": np.array(STAIN_NAMES),
        "stain_train": stain_train.astype(np.float32),
        "stain_low": low,
        "stain_high": high,
    }
    for index, stats in enumerate(feature_models):
        arrays.update({f"model{index}/{key}": np.asarray(value) for key, value in stats.items()})
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def load_domain(path) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """(stain arrays, one feature record per model) of a `domain.npz`."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    stain = {key: value for key, value in arrays.items() if not key.startswith("model")}
    models: dict[int, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith("model"):
            index, name = key[len("model") :].split("/", 1)
            models.setdefault(int(index), {})[name] = value
    return stain, [models[index] for index in sorted(models)]


def stain_outside(stain: dict[str, np.ndarray], image_stats: np.ndarray) -> list[str]:
    """Names of the stain statistics outside their training range (image_stats: (9,))."""
    low, high = stain["stain_low"], stain["stain_high"]
    names = [str(name) for name in stain["stain_names"]]
    return [
        f"{name} {value:.3f} outside [{lo:.3f}, {hi:.3f}]"
        for name, value, lo, hi in zip(names, image_stats, low, high)
        if not lo <= value <= hi
    ]
