"""NCC template search: against a brute-force NCC, many templates of several sizes, refinement."""

import numpy as np
import pytest
from scipy import ndimage

from leukoflow.core.ncc import (
    TemplateBank,
    block_mean,
    inverse_window_norms,
    match_all,
    match_near,
    ncc_map,
    to_grey,
)


def brute_ncc(image, template):
    h, w = template.shape
    t = template - template.mean()
    out = np.zeros((image.shape[0] - h + 1, image.shape[1] - w + 1))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            window = image[r : r + h, c : c + w]
            window = window - window.mean()
            denominator = np.sqrt((t * t).sum() * (window * window).sum())
            out[r, c] = (t * window).sum() / denominator if denominator > 0 else 0.0
    return out


def textured(rng, height, width, sigma=1.5):
    return ndimage.gaussian_filter(rng.normal(0, 40, (height, width)), sigma) + 150


def test_ncc_map_equals_brute_force():
    rng = np.random.default_rng(0)
    image = textured(rng, 40, 52)
    template = image[7:20, 11:30] * 1.7 + 5  # gain and offset do not change NCC
    scores = ncc_map(image, template)
    assert scores.shape == (40 - 13 + 1, 52 - 19 + 1)
    np.testing.assert_allclose(scores, brute_ncc(image, template), atol=1e-9)
    assert np.unravel_index(scores.argmax(), scores.shape) == (7, 11)
    assert scores.max() == pytest.approx(1.0)


def test_flat_windows_and_templates_score_zero():
    image = np.full((20, 20), 100.0)
    image[10:, 10:] += np.random.default_rng(1).normal(0, 30, (10, 10))
    assert inverse_window_norms(image, 5, 5)[0, 0] == 0  # blank glass: no defined NCC
    assert (ncc_map(image, np.ones((4, 4))) == 0).all()
    with pytest.raises(ValueError, match="larger than the image"):
        ncc_map(image, np.ones((21, 3)))


def test_match_all_finds_every_template_in_images_of_two_sizes():
    rng = np.random.default_rng(2)
    images = [textured(rng, 90, 120), textured(rng, 70, 64)]
    # Templates of three sizes cut from both images, one too large for the small image, one flat.
    cuts = [(0, 5, 9, 20, 20), (0, 60, 80, 25, 31), (1, 30, 30, 20, 20), (1, 1, 2, 25, 31), (0, 10, 10, 80, 100)]
    templates = [images[i][r : r + h, c : c + w] + rng.normal(0, 0.5, (h, w)) for i, r, c, h, w in cuts]
    bank = TemplateBank([*templates, np.full((6, 6), 3.0)])
    for index, image in enumerate(images):
        scores, rows, cols = match_all(image.astype(np.float32), bank, chunk=2)
        for k, (source, r, c, h, w) in enumerate(cuts):
            if source == index:
                assert (rows[k], cols[k]) == (r, c)
                assert 0.99 < scores[k] <= 1.0 + 1e-5
            elif h <= image.shape[0] and w <= image.shape[1]:
                assert scores[k] < 0.9  # a template from the other image
                np.testing.assert_allclose(scores[k], ncc_map(image, templates[k]).max(), atol=1e-4)
            else:
                assert scores[k] == -np.inf and rows[k] == -1
        assert scores[-1] == -np.inf and rows[-1] == -1  # the flat template


def test_coarse_then_refine_recovers_the_full_resolution_corner():
    rng = np.random.default_rng(3)
    image = textured(rng, 160, 200, sigma=3)
    template = image[53:117, 77:141]
    factor = 8
    bank = TemplateBank([block_mean(template, factor)])
    _, rows, cols = match_all(block_mean(image, factor), bank)
    score, row, col = match_near(image, template, int(rows[0]) * factor, int(cols[0]) * factor, 2 * factor)
    assert (row, col) == (53, 77) and score == pytest.approx(1.0)
    # Near the border the search window is clipped to the image; the corner is still found.
    corner = image[0:64, 136:200]
    assert match_near(image, corner, 4, 130, 16)[1:] == (0, 136)
    assert match_near(image, image, 0, 0, 5) == pytest.approx((1.0, 0, 0))
    assert match_near(image[:50], template, 0, 0, 5) == (-np.inf, -1, -1)


def test_grey_and_block_mean():
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 1] = 100
    assert to_grey(rgb) == pytest.approx(np.full((4, 6), 58.7))
    assert block_mean(np.arange(24, dtype=float).reshape(4, 6), 2).tolist() == [[3.5, 5.5, 7.5], [15.5, 17.5, 19.5]]
    with pytest.raises(ValueError):
        block_mean(np.ones((3, 3)), 4)


def test_single_precision_correlation_moves_scores_by_little():
    rng = np.random.default_rng(4)
    image = textured(rng, 300, 300, sigma=3).astype(np.float32)
    template = image[20:277, 30:287] + rng.normal(0, 2, (257, 257)).astype(np.float32)
    double, single = ncc_map(image, template), ncc_map(image, template, np.float32)
    assert np.abs(double - single).max() < 1e-5
    assert match_near(image, template, 16, 24, 16, np.float32)[1:] == (20, 30)
