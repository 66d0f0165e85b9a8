"""The slide stage on a synthetic slide: mask + centroids find the planted white cells when the
heatmap is right, and every patch of a slide is scored in one batch."""

import numpy as np
import pandas as pd
import pytest
import torch

from leukoflow.allidb1.stages import classify_patches, resize_image, segment_slide, upsample_map
from leukoflow.core.io import read_rgb
from leukoflow.core.matching import match_points
from leukoflow.data.synthetic import write_allidb1
from leukoflow.inference import EXPORT_FORMAT
from leukoflow.nets.alexnet import AlexNetClassifier

SETTINGS = {
    "heat_threshold": 0.3,
    "eosin_threshold": None,
    "min_area": 300,
    "opening_radius": 2,
    "max_hole_area": 2000,
    "centroid_cost": "euclidean",
    "min_prominence": 1.0,
    "closing_radius": 4,
    "min_distance": 40,
}


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    out = tmp_path_factory.mktemp("slide")
    data = write_allidb1(out, n_all=1, n_healthy=0, resolutions=[(1024, 768)], layout="flat", seed=5)
    truth = pd.read_csv(out / "truth.tsv", sep="\t")
    return read_rgb(data / "Im001_1.jpg"), truth


def oracle_heatmap(shape, truth, scale=0.25):
    """A heatmap that is hot exactly on the planted white cells, at a reduced working scale."""
    h, w = round(shape[0] * scale), round(shape[1] * scale)
    yy, xx = np.mgrid[0:h, 0:w]
    heat = np.zeros((h, w), np.float32)
    for x, y, r in truth[["x", "y", "radius"]].to_numpy():
        heat = np.maximum(heat, np.exp(-((xx - x * scale) ** 2 + (yy - y * scale) ** 2) / (2 * (r * scale * 0.7) ** 2)))
    return heat.astype(np.float16)


def test_centroids_find_planted_cells_with_a_good_heatmap(slide):
    rgb, truth = slide
    mask, centroids, stages = segment_slide(rgb, oracle_heatmap(rgb.shape[:2], truth), SETTINGS)
    assert mask.shape == rgb.shape[:2] and stages["heat"].shape == rgb.shape[:2]
    match = match_points(centroids.astype(float), truth[["x", "y"]].to_numpy(float), radius=40)
    assert match.tp >= 0.75 * len(truth), (match, len(truth))
    assert match.fp <= max(1, len(truth) // 4)


def test_resize_and_upsample_shapes(slide):
    rgb, _ = slide
    small = resize_image(rgb, 0.25)
    assert small.shape == (192, 256, 3) and small.dtype == np.uint8
    assert upsample_map(np.zeros((192, 256), np.float16), rgb.shape[:2]).shape == rgb.shape[:2]


def test_all_patches_scored_by_mean_of_models(slide, tmp_path):
    rgb, truth = slide
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = AlexNetClassifier(input_size=65, hidden=[8])
        payload = {
            "format": EXPORT_FORMAT,
            "architecture": "leukoflow.nets.alexnet:AlexNetClassifier",
            "arch_kwargs": model.arch_kwargs,
            "state_dict": model.state_dict(),
        }
        paths.append(tmp_path / f"m{seed}.pt")
        torch.save(payload, paths[-1])
    centroids = truth[["x", "y"]].to_numpy(np.int64)
    boxes, prob = classify_patches(rgb, centroids, paths, patch_size=257, input_size=65)
    assert len(boxes) == len(prob) == len(centroids)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= rgb.shape[1]).all() and (boxes[:, 3] <= rgb.shape[0]).all()
    single = [classify_patches(rgb, centroids, [p], 257, 65)[1] for p in paths]
    np.testing.assert_allclose(prob, np.mean(single, axis=0), rtol=1e-5)
    empty_boxes, empty_prob = classify_patches(rgb, np.zeros((0, 2), np.int64), paths, 257, 65)
    assert len(empty_boxes) == 0 and len(empty_prob) == 0


@pytest.mark.parametrize("sign, expected", [(-1.0, 1), (1.0, -1)])
def test_polarity_follows_what_the_features_excite_on(sign, expected):
    """A conv stack that fires on dark pixels (the nucleus) keeps the map; one that fires on the
    bright surround has it inverted."""
    from torch import nn

    from leukoflow.allidb1.stages import excitation_polarity

    size = 65
    yy, xx = np.mgrid[0:size, 0:size]
    crop = np.full((size, size, 3), 230, np.uint8)
    crop[(yy - 32) ** 2 + (xx - 32) ** 2 <= 14**2] = (80, 25, 120)
    crops = torch.from_numpy(np.stack([crop] * 16)).permute(0, 3, 1, 2).contiguous()
    conv = nn.Conv2d(3, 4, 5, stride=2, padding=2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(sign * 0.1)
    features = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2))
    result = excitation_polarity(features, crops)
    assert result["polarity"] == expected
    assert (result["centre_mean"] > result["surround_mean"]) == (expected == 1)


def test_polarity_with_fewer_crops_than_a_mosaic():
    from torch import nn

    from leukoflow.allidb1.stages import excitation_polarity

    features = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU())
    crops = torch.randint(0, 256, (3, 3, 33, 33), dtype=torch.uint8)
    assert excitation_polarity(features, crops)["n_crops"] == 3  # one crop per mosaic
