import numpy as np
import pytest
import torch
from torch import nn

from leukoflow.core.images import imagenet_normalise
from leukoflow.core.stain import eosin_mask
from leukoflow.slides.centroids import find_centroids
from leukoflow.slides.heatmap import excitation_map
from leukoflow.slides.masks import clean_mask, fill_small_holes, remove_small_components, threshold_map

BACKGROUND = (167, 166, 155)
RED_CELL = (155, 137, 135)
NUCLEUS = (80, 25, 120)


def darkness_features() -> nn.Sequential:
    """A fixed conv stack whose excitation grows with darkness: every filter weight is negative.

    Filter f computes s_f * (0.7 - mean of the normalised 5x5x3 window). After ImageNet
    normalisation the beige background averages about 0.84 (silenced by the ReLU), the pink red
    cells about 0.48 (weak response, as a real network gives) and the purple nucleus about -0.69
    (strong response). Strided conv and pooling shrink the map, as AlexNet's do, so
    `excitation_map` has to bring it back to image size.
    """
    conv = nn.Conv2d(3, 4, kernel_size=5, stride=2, padding=2)
    scale = torch.linspace(0.5, 1.5, 4)
    with torch.no_grad():
        conv.weight.copy_(-scale.view(4, 1, 1, 1).expand(4, 3, 5, 5) / 75.0)
        conv.bias.copy_(0.7 * scale)
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2))


def disk(shape, centre_xy, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - centre_xy[0]) ** 2 + (yy - centre_xy[1]) ** 2 <= radius**2


def smear(shape=(96, 128), nucleus_xy=(90, 30), red_cells=((30, 60), (60, 70), (20, 20))):
    """Beige background, pink red cells, one purple white-cell nucleus of radius 9."""
    image = np.empty((*shape, 3), np.uint8)
    image[:] = BACKGROUND
    for centre in red_cells:
        image[disk(shape, centre, 12)] = RED_CELL
    image[disk(shape, nucleus_xy, 9)] = NUCLEUS
    return image


def test_map_has_image_size_and_unit_range():
    heat = excitation_map(darkness_features(), smear())
    assert heat.shape == (96, 128) and heat.dtype == np.float32
    assert heat.min() == pytest.approx(0.0) and heat.max() == pytest.approx(1.0)


def test_maximum_lies_on_the_planted_dark_cell():
    heat = excitation_map(darkness_features(), smear(nucleus_xy=(90, 30)))
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    assert (x - 90) ** 2 + (y - 30) ** 2 <= 9**2
    # Moving the cell moves the maximum.
    heat = excitation_map(darkness_features(), smear(nucleus_xy=(40, 80), red_cells=()))
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    assert (x - 40) ** 2 + (y - 80) ** 2 <= 9**2


def test_tensor_input_gives_the_same_map_and_mode_is_restored():
    features = darkness_features().train()
    image = smear()
    from_numpy = excitation_map(features, image)
    from_tensor = excitation_map(features, torch.from_numpy(image))
    chw_float = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0
    np.testing.assert_allclose(from_tensor, from_numpy, atol=1e-6)
    np.testing.assert_allclose(excitation_map(features, chw_float), from_numpy, atol=1e-5)
    assert features.training


def test_constant_response_gives_zeros():
    silent = nn.Sequential(nn.Conv2d(3, 2, 3))
    with torch.no_grad():
        silent[0].weight.zero_()
        silent[0].bias.fill_(0.3)
    heat = excitation_map(silent, smear())
    assert heat.shape == (96, 128) and not heat.any()


def test_rejects_bad_image():
    with pytest.raises(ValueError, match="HxWx3"):
        excitation_map(darkness_features(), np.zeros((10, 10), np.uint8))


def test_imagenet_normalise_uint8_and_float_agree():
    batch = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)
    np.testing.assert_allclose(imagenet_normalise(batch), imagenet_normalise(batch.float() / 255), atol=1e-6)
    mean_colour = torch.tensor([124, 116, 104], dtype=torch.uint8).view(1, 3, 1, 1)  # ImageNet mean x 255
    assert imagenet_normalise(mean_colour).abs().max() < 0.01


def test_threshold_map_is_strict_and_checks_range():
    heat = np.array([[0.0, 0.5, 0.51, 1.0]], np.float32)
    assert threshold_map(heat, 0.5).tolist() == [[False, False, True, True]]
    with pytest.raises(ValueError):
        threshold_map(heat, 1.5)


def heat_and_eosin(image, heat, heat_threshold, eosin_threshold, **clean):
    """The white-cell mask as the slide stage builds it: heat AND eosin, then the clean-up."""
    return clean_mask(threshold_map(heat, heat_threshold) & eosin_mask(image, eosin_threshold), **clean)


def test_heat_and_eosin_keeps_the_nucleus_and_drops_red_cells():
    image = smear(nucleus_xy=(90, 30), red_cells=((30, 60), (60, 70), (20, 20)))
    heat = excitation_map(darkness_features(), image)
    nucleus, red = disk(image.shape[:2], (90, 30), 9), image[..., 1] == RED_CELL[1]
    # The heatmap alone lights up red cells too (they are darker than the background)...
    assert threshold_map(heat, 0.1)[red].mean() > 0.5
    mask = heat_and_eosin(image, heat, 0.1, 0.03, opening_radius=2, max_hole_area=64, min_area=20)
    # ...the eosin channel removes them and keeps the nucleus.
    assert mask[nucleus].mean() > 0.9
    assert not mask[red].any()


def test_clean_mask_drops_small_components():
    image = smear(red_cells=())
    image[5:8, 5:8] = NUCLEUS  # a 9-pixel purple speck
    heat = np.ones(image.shape[:2], np.float32)
    kept = heat_and_eosin(image, heat, 0.5, 0.03, max_hole_area=64)
    cleaned = heat_and_eosin(image, heat, 0.5, 0.03, max_hole_area=64, min_area=50)
    assert kept[6, 6] and not cleaned[6, 6] and cleaned[30, 90]


def test_remove_small_components_uses_eight_connectivity():
    mask = np.zeros((6, 6), bool)
    mask[0, 0] = mask[1, 1] = True  # diagonal pair: one 8-connected component of 2
    mask[4, 4] = True
    out = remove_small_components(mask, 2)
    assert out[0, 0] and out[1, 1] and not out[4, 4]


def test_fill_small_holes_keeps_the_gap_inside_a_ring_of_cells():
    ring = np.zeros((160, 160), bool)
    for centre in [(64, 64), (96, 64), (64, 96), (96, 96)]:
        ring |= disk(ring.shape, centre, 20)
    ring[60:63, 52:55] = False  # a 9-pixel pale spot inside the first cell
    gap = (fill_small_holes(ring, 10_000) & ~ring).sum() - 9
    assert gap > 9
    filled = fill_small_holes(ring, max_hole_area=gap - 1)
    assert filled[61, 53] and not filled[80, 80]  # spot filled, central gap kept
    assert len(find_centroids(filled)) == 4
    assert len(find_centroids(fill_small_holes(ring, max_hole_area=10_000))) == 1  # why not fill all


def test_numpy_upsampling_matches_torchs():
    from leukoflow.allidb1.stages import upsample
    from leukoflow.core.images import upsample_map

    small = np.random.default_rng(0).random((13, 17)).astype(np.float16)
    for shape in ((130, 170), (97, 211), (13, 17)):
        np.testing.assert_allclose(upsample(small, shape), upsample_map(small, shape), atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_path_agrees_with_cpu():
    # bf16 autocast + channels_last on CUDA; the normalised map should barely move.
    image = smear()
    on_cpu = excitation_map(darkness_features(), image)
    on_gpu = excitation_map(darkness_features(), image, device="cuda")
    assert on_gpu.shape == on_cpu.shape and on_gpu.dtype == np.float32
    np.testing.assert_allclose(on_gpu, on_cpu, atol=0.03)
    assert np.argmax(on_gpu) == np.argmax(on_cpu) or on_cpu.ravel()[np.argmax(on_gpu)] > 0.97
