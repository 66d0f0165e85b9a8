"""The out-of-domain statistics: stain percentiles as skimage computes them, feature distances
calibrated on held-out crops, and images outside the range named."""

import numpy as np
import pytest
from skimage.color import rgb2hed

from leukoflow.screen.domain import (
    STAIN_NAMES,
    feature_ratio,
    fit_features,
    load_domain,
    save_domain,
    stain_outside,
    stain_statistics,
)


def test_stain_statistics_are_hed_percentiles():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 3, 20, 20), dtype=np.uint8)
    stats = stain_statistics(crops)
    assert stats.shape == (3, len(STAIN_NAMES))
    hed = rgb2hed(crops[1].transpose(1, 2, 0)).reshape(-1, 3)
    expected = np.percentile(np.maximum(hed, 0), [10, 50, 90], axis=0).T.ravel()
    assert stats[1] == pytest.approx(expected, abs=1e-4)


def test_feature_distances_flag_shifted_cells_and_few_training_ones():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(400, 40)) @ rng.normal(size=(40, 40))
    stats = fit_features(train, groups=np.arange(400) // 2)
    new = rng.normal(size=(400, 40)) @ rng.normal(size=(40, 40))  # another distribution
    same = rng.normal(size=(1000, 40)) @ np.linalg.cholesky(np.cov(train.T)).T + train.mean(axis=0)
    assert 0.0 <= (feature_ratio(stats, same) > 1).mean() < 0.05  # held-out calibration: ~1%
    assert (feature_ratio(stats, new) > 1).mean() > 0.5
    assert (feature_ratio(stats, train + 10 * train.std(axis=0)) > 1).all()


def test_domain_file_round_trip_and_outside_names(tmp_path):
    rng = np.random.default_rng(2)
    stain = rng.uniform(0, 0.2, (50, len(STAIN_NAMES))).astype(np.float32)
    models = [fit_features(rng.normal(size=(30, 8))) for _ in range(2)]
    save_domain(tmp_path / "domain.npz", stain, models)
    stain_arrays, loaded = load_domain(tmp_path / "domain.npz")
    assert len(loaded) == 2 and loaded[1]["mean"] == pytest.approx(models[1]["mean"])
    inside = np.median(stain, axis=0)
    assert stain_outside(stain_arrays, inside) == []
    outside = inside.copy()
    outside[3] = 5.0
    assert stain_outside(stain_arrays, outside)[0].startswith("eosin_p10 5.000 outside")
