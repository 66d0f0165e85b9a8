"""Heatmap localisation measures on planted maps: a map equal to the truth scores 1, its inverse 0."""

import numpy as np
import pytest

from leukoflow.allidb1.localisation import (
    auc_from_histograms,
    background_points,
    binned_auc,
    calibrated_polarity,
    disk_mask,
    histograms,
    slide_localisation,
    verdict,
)

CELLS = np.array([[40.0, 30.0, 12.0], [110.0, 70.0, 15.0]])  # x, y, radius


def test_planted_map_scores_one_and_its_inverse_zero():
    truth = disk_mask((100, 160), CELLS)
    heat = truth.astype(np.float32)
    assert binned_auc(heat, truth) == pytest.approx(1.0)
    assert binned_auc(1 - heat, truth) == pytest.approx(0.0)
    assert binned_auc(np.full(truth.shape, 0.3), truth) == pytest.approx(0.5)  # no information: chance


def test_binned_auc_matches_the_rank_definition():
    rng = np.random.default_rng(0)
    scores = rng.random(400).astype(np.float32)
    truth = rng.random(400) < scores  # informative but noisy
    positives, negatives = scores[truth], scores[~truth]
    exact = ((positives[:, None] > negatives[None]).sum() + 0.5 * (positives[:, None] == negatives[None]).sum()) / (
        len(positives) * len(negatives)
    )
    assert binned_auc(scores, truth) == pytest.approx(exact, abs=2e-3)  # 1024 bins: ties within 1/1023


def test_pooled_histograms_give_the_auc_of_all_values():
    rng = np.random.default_rng(1)
    a, b = rng.random(300), rng.random(500)
    ta, tb = a > 0.4, rng.random(500) < 0.5
    pooled = auc_from_histograms(histograms(a, ta) + histograms(b, tb))
    assert pooled == pytest.approx(binned_auc(np.concatenate([a, b]), np.concatenate([ta, tb])))
    assert np.isnan(auc_from_histograms(histograms(a, np.zeros(300, bool))))


def test_disk_mask_and_background_points():
    mask = disk_mask((100, 160), CELLS)
    assert mask[30, 40] and mask[70, 110] and not mask[0, 0]
    assert mask.sum() == pytest.approx(np.pi * (12**2 + 15**2), rel=0.05)
    points = background_points((100, 160), CELLS[:, :2], 25, 200, seed=3)
    assert len(points) > 50
    gaps = np.hypot(points[:, None, 0] - CELLS[None, :, 0], points[:, None, 1] - CELLS[None, :, 1])
    assert (gaps >= 25).all()


def test_slide_measures_on_a_planted_heatmap():
    cells = disk_mask((100, 160), CELLS)
    eosin = cells.copy()
    eosin[80:90, 10:30] = True  # an eosin-positive distractor that is no white cell
    heat = cells.astype(np.float32)
    row, counts = slide_localisation(heat, eosin, CELLS[:, :2], diameter=25, cells_xyr=CELLS)
    assert row["pixel_auc"] == pytest.approx(1.0) and row["point_auc"] == pytest.approx(1.0)
    assert row["pixel_auc_in_eosin"] == pytest.approx(1.0)  # the map rejects the distractor
    assert set(counts) == {"pixel_auc", "pixel_auc_in_eosin", "point_auc", "eosin_auc"}
    inverted, _ = slide_localisation(1 - heat, eosin, CELLS[:, :2], diameter=25, cells_xyr=CELLS)
    assert inverted["pixel_auc"] == pytest.approx(0.0) and inverted["point_auc"] == pytest.approx(0.0)
    real, counts = slide_localisation(heat, eosin, np.zeros((0, 2)), diameter=25)  # no truth, no blasts
    assert np.isnan(real["pixel_auc"]) and np.isnan(real["point_auc"]) and "eosin_auc" in counts


def test_verdict_says_who_does_the_work():
    assert "wrong way" in verdict(0.2)
    assert "does not localise" in verdict(0.55) and "eosin threshold does the work" in verdict(0.55)
    assert "localises" in verdict(0.9, 0.8) and "still separates" in verdict(0.9, 0.8)
    assert "adds little" in verdict(0.9, 0.52)
    assert "eosin mask alone is already 99% white-cell pixels" in verdict(0.9, 0.8, 0.99)
    assert "Not measured" in verdict(float("nan"))


def test_calibrated_polarity_follows_the_stained_pixels():
    cells = disk_mask((100, 160), CELLS)
    heat = cells.astype(np.float32) * 0.8 + 0.1
    assert calibrated_polarity(heat, cells) == 1
    assert calibrated_polarity(1 - heat, cells) == -1


@pytest.mark.parametrize("kind", ["uniform", "noise"])
def test_a_heatmap_without_information_scores_chance_even_after_calibration(kind):
    # A map that knows nothing of the cells, through the measures and through the improved
    # method's polarity calibration: every AUC is 0.5 +/- 0.02. (Calibration flips a map only
    # when it is lower on the eosin pixels, so it cannot lift a noise map far above chance.)
    rng = np.random.default_rng(0)
    shape = (600, 800)
    cells = np.column_stack([rng.uniform(40, 760, 12), rng.uniform(40, 560, 12), rng.uniform(15, 30, 12)])
    eosin = disk_mask(shape, cells) | (rng.random(shape) < 0.02)
    heat = np.full(shape, 0.4, np.float32) if kind == "uniform" else rng.random(shape).astype(np.float32)
    heat = heat if calibrated_polarity(heat, eosin) > 0 else 1 - heat
    row, _ = slide_localisation(heat, eosin, cells[:, :2], diameter=45, cells_xyr=cells, n_background=2000)
    for name in ("pixel_auc", "pixel_auc_in_eosin", "eosin_auc"):  # thousands of pixels each side
        assert row[name] == pytest.approx(0.5, abs=0.02), (name, row[name])
    # 12 blast points: the null spread of a Mann-Whitney AUC, sqrt((n1 + n0 + 1) / (12 n1 n0)).
    spread = np.sqrt((12 + 2000 + 1) / (12 * 12 * 2000))
    assert row["point_auc"] == pytest.approx(0.5, abs=3 * spread)
