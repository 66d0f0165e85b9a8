"""The slide stage on synthetic slides: the heatmap must matter (eosin-positive distractors only it
can reject), the as-published method runs with every improvement off, and a group of slides goes
through the per-group files of every step."""

import numpy as np
import pandas as pd
import pytest
import torch

from leukoflow.allidb1.files import load_npz
from leukoflow.allidb1.localisation import disk_mask
from leukoflow.allidb1.methods import method_settings
from leukoflow.allidb1.stages import (
    classify_patches,
    run_cell_sizes,
    run_classify,
    run_heatmaps,
    run_segments,
    segment_slide,
)
from leukoflow.core.io import read_rgb
from leukoflow.core.matching import match_points
from leukoflow.data.readers import scan
from leukoflow.data.synthetic import write_allidb1
from leukoflow.inference import EXPORT_FORMAT
from leukoflow.nets.ghosh import GhoshNet

SLIDES = {
    "heat_threshold": 0.5,
    "eosin_threshold": None,
    "patch_size": 257,
    "abnormal_threshold": 0.5,
    "k": 1,
    "cell_diameter_px": None,
    "crop_cell_fraction": 0.5,
    "match_radius_cells": 0.5,
    "improved": {
        "heatmap_polarity": "calibrate",
        "heat_otsu": True,
        "fold_ensemble": True,
        "cell_scale": True,
        "patch_cells": 2.0,
        "segment_cell_px": 64,
        "opening_cells": 0.015,
        "closing_cells": 0.03,
        "max_hole_cells": 0.15,
        "min_area_cells": 0.1,
        "centroid_cost": "euclidean",
        "centroid_rule": "regional_maxima",
        "min_prominence": 1.0,
        "merge_cells": 0.3,
    },
}
NUCLEUS = (80, 25, 120)


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    out = tmp_path_factory.mktemp("slide")
    data = write_allidb1(out, n_all=1, n_healthy=0, resolutions=[(1024, 768)], layout="flat", seed=5)
    truth = pd.read_csv(out / "truth.tsv", sep="\t")
    return read_rgb(data / "Im001_1.jpg"), truth


def with_distractors(rgb, truth, n=6, radius=22, seed=0):
    """Purple disks of nucleus colour in free background: eosin-positive, but no white cell."""
    rng = np.random.default_rng(seed)
    image, placed = rgb.copy(), []
    cells = truth[["x", "y", "radius"]].to_numpy(float)
    yy, xx = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]]
    while len(placed) < n:
        x, y = rng.uniform(40, rgb.shape[1] - 40), rng.uniform(40, rgb.shape[0] - 40)
        far = np.hypot(cells[:, 0] - x, cells[:, 1] - y) > cells[:, 2] + 3 * radius
        if far.all() and all(np.hypot(px - x, py - y) > 4 * radius for px, py in placed):
            image[(xx - x) ** 2 + (yy - y) ** 2 <= radius**2] = NUCLEUS
            placed.append((x, y))
    return image, np.array(placed)


def test_only_the_heatmap_rejects_eosin_positive_distractors(slide):
    rgb, truth = slide
    image, distractors = with_distractors(rgb, truth)
    settings = method_settings(SLIDES, "improved")
    diameter = 2 * truth["radius"].median()
    true_heat = disk_mask(image.shape[:2], truth[["x", "y", "radius"]].to_numpy(float)).astype(np.float32)
    uniform_heat = np.ones(image.shape[:2], np.float32)
    found = {}
    for name, heat in (("true", true_heat), ("uniform", uniform_heat)):
        centroids = segment_slide(image, heat, settings, diameter)["centroids"].astype(float)
        cells = match_points(centroids, truth[["x", "y"]].to_numpy(float), radius=diameter / 2)
        fakes = match_points(centroids, distractors, radius=diameter / 2)
        found[name] = (cells.tp, fakes.tp, cells.tp / max(len(centroids), 1))
    assert found["true"][0] >= 0.75 * len(truth)
    assert found["uniform"][1] >= 0.75 * len(distractors)  # the eosin mask alone keeps every distractor
    assert found["true"][1] == 0  # the right heatmap rejects them all
    assert found["true"][2] > found["uniform"][2] + 0.2  # precision: the true heatmap beats a uniform one


def test_as_published_runs_with_every_improvement_off(slide):
    rgb, truth = slide
    settings = method_settings(SLIDES, "as_published")
    heat = disk_mask(rgb.shape[:2], truth[["x", "y", "radius"]].to_numpy(float)).astype(np.float32)
    result = segment_slide(rgb, heat, settings, diameter=2 * truth["radius"].median())
    # No clean-up: the mask is exactly heat above threshold AND eosin.
    np.testing.assert_array_equal(result["mask"], result["heat_mask"] & result["eosin"])
    assert len(result["centroids"]) >= len(truth)  # the literal 3x3 rule: at least one per cell


def export(model, path):
    torch.save(
        {
            "format": EXPORT_FORMAT,
            "architecture": "leukoflow.nets.ghosh:GhoshNet",
            "arch_kwargs": model.arch_kwargs,
            "state_dict": model.state_dict(),
        },
        path,
    )
    return str(path)


def test_all_patches_scored_by_mean_of_models(slide, tmp_path):
    rgb, truth = slide
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(GhoshNet(input_size=65, hidden=[8]).eval())
    centroids = truth[["x", "y"]].to_numpy(np.int64)
    boxes, prob = classify_patches(rgb, centroids, models, patch_size=257, input_size=65)
    assert len(boxes) == len(prob) == len(centroids)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= rgb.shape[1]).all() and (boxes[:, 3] <= rgb.shape[0]).all()
    single = [classify_patches(rgb, centroids, [m], 257, 65)[1] for m in models]
    np.testing.assert_allclose(prob, np.mean(single, axis=0), rtol=1e-5)
    empty_boxes, empty_prob = classify_patches(rgb, np.zeros((0, 2), np.int64), models, 257, 65)
    assert len(empty_boxes) == 0 and len(empty_prob) == 0


@pytest.mark.parametrize("method", ["as_published", "improved"])
def test_a_group_of_slides_goes_through_every_step(tmp_path, method):
    data = write_allidb1(tmp_path / "a1", n_all=1, n_healthy=1, resolutions=[(700, 520)], layout="flat", seed=2)
    manifest = scan("allidb1", data).manifest
    truth = pd.read_csv(tmp_path / "a1" / "truth.tsv", sep="\t")
    slides = ["Im001_1", "Im002_0", "Im999_1"]  # the last one is not in the manifest (rejected)
    settings = method_settings(SLIDES, method)
    cnn = {"input_size": 65, "frame": 257}
    torch.manual_seed(0)
    model = export(GhoshNet(input_size=65, hidden=[8]), tmp_path / "model.pt")
    run_cell_sizes(manifest=manifest, slides=slides, settings=settings, out=tmp_path / "sizes.tsv")
    run_heatmaps(
        manifest=manifest, slides=slides, settings=settings, cnn=cnn, model_path=model,
        cell_sizes_path=tmp_path / "sizes.tsv", out=tmp_path / "heat.npz",
    )  # fmt: skip
    maps, meta = load_npz(tmp_path / "heat.npz")
    assert set(maps) == {"Im001_1", "Im002_0"} and meta["normalisation"] == "imagenet"
    expected_scale = 65 / 257 if method == "as_published" else None
    if expected_scale:
        assert meta["scales"]["Im001_1"] == pytest.approx(expected_scale)
    run_segments(
        manifest=manifest, slides=slides, settings=settings, heatmaps_path=tmp_path / "heat.npz",
        cell_sizes_path=tmp_path / "sizes.tsv", truth=truth, centroids_out=tmp_path / "c.tsv",
        thumbs_out=tmp_path / "thumbs.npz", localisation_out=tmp_path / "loc.tsv", histograms_out=tmp_path / "loc.npz",
    )  # fmt: skip
    measures = pd.read_csv(tmp_path / "loc.tsv", sep="\t")
    assert measures["slide"].tolist() == ["Im001_1", "Im002_0"] and measures["pixel_auc"].between(0, 1).all()
    # The improved method's calibration leaves no map lower on the stained pixels than elsewhere.
    assert (measures["eosin_auc"] >= 0.5).all() if method == "improved" else (measures["polarity"] == 1).all()
    assert {"Im001_1/rgb", "Im001_1/heat", "Im002_0/mask"} <= set(load_npz(tmp_path / "thumbs.npz")[0])
    patches = run_classify(
        manifest=manifest, slides=slides, settings=settings, cnn=cnn, centroids_path=tmp_path / "c.tsv",
        cell_sizes_path=tmp_path / "sizes.tsv", model_paths=[model, model], patches_out=tmp_path / "p.tsv",
    )  # fmt: skip
    centroids = pd.read_csv(tmp_path / "c.tsv", sep="\t")
    assert len(patches) == len(centroids) and patches["prob_all"].between(0, 1).all()
