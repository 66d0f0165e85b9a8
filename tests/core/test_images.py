"""Image tensors: padding, normalisation, resizing, layout (leukoflow.core.images)."""

import numpy as np
import pytest
import torch

from leukoflow.core.errors import DatasetError
from leukoflow.core.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    check_images,
    imagenet_normalise,
    normalisation_constants,
    normalise_batch,
    pad_to_square,
    resize_batch,
    resize_image,
    upsample_map,
)


def crop(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_pad_narrow_crop_193x257():
    image = crop(257, 193)  # Im221_0: 193 wide, 257 high
    padded = pad_to_square(image, 257)
    assert padded.shape == (257, 257, 3) and padded.dtype == np.uint8
    left = (257 - 193) // 2  # 32 columns left, 32 right
    assert np.array_equal(padded[:, left : left + 193], image)
    # reflection about the edge pixel: padded column left-1-j equals original column 1+j
    assert np.array_equal(padded[:, left - 1], image[:, 1])
    assert np.array_equal(padded[:, 0], image[:, left])
    assert np.array_equal(padded[:, -1], image[:, -1 - (257 - 193 - left)])


def test_pad_short_crop_257x214():
    image = crop(214, 257, seed=1)  # Im238_0: 257 wide, 214 high
    padded = pad_to_square(image, 257)
    top = (257 - 214) // 2  # 21 above, 22 below
    assert padded.shape == (257, 257, 3)
    assert np.array_equal(padded[top : top + 214], image)
    assert np.array_equal(padded[top - 1], image[1])
    assert np.array_equal(padded[top + 214], image[-2])
    assert not (padded == 0).all(axis=(1, 2)).any()  # no black rows


def test_pad_crops_larger_sides_centrally_and_keeps_exact_size():
    image = crop(300, 257, seed=2)
    assert np.array_equal(pad_to_square(image, 257), image[21:278])
    exact = crop(257, 257, seed=3)
    assert np.array_equal(pad_to_square(exact, 257), exact)


def test_pad_tiny_side_falls_back_to_symmetric():
    image = crop(3, 10, seed=4)  # 7 rows missing: 3 above, 4 below > 2, too many for "reflect"
    padded = pad_to_square(image, size=10)
    assert padded.shape == (10, 10, 3)
    assert np.array_equal(padded[3:6], image)
    assert np.array_equal(padded[2], image[0])  # symmetric repeats the edge row


def test_pad_rejects_bad_images_naming_the_file():
    with pytest.raises(DatasetError, match="Im001_1.tif: expected uint8"):
        pad_to_square(crop(10, 10).astype(np.float32), 10, name="Im001_1.tif")
    with pytest.raises(DatasetError, match="HxWx3"):
        pad_to_square(np.zeros((10, 10), dtype=np.uint8), 10, name="x.tif")


def test_unit_normalisation_scales_any_channel_count():
    grey = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)
    scale, shift = normalisation_constants("cpu", "unit", channels=1)
    assert torch.equal(normalise_batch(grey, scale, shift), torch.ones(2, 1, 4, 4))
    with pytest.raises(ValueError, match="3 channels"):
        normalisation_constants("cpu", "imagenet", channels=1)
    with pytest.raises(ValueError, match="normalisation must be one of"):
        normalisation_constants("cpu", "zscore")


def test_imagenet_normalise_uint8_and_float_agree():
    batch = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    torch.testing.assert_close(imagenet_normalise(batch), imagenet_normalise(batch.float() / 255), atol=1e-6, rtol=0)
    mean_colour = (torch.tensor(IMAGENET_MEAN) * 255).round().to(torch.uint8).view(1, 3, 1, 1)
    assert imagenet_normalise(mean_colour.expand(1, 3, 2, 2)).abs().max() < 0.01
    assert torch.tensor(IMAGENET_STD).min() > 0


def test_resizes_keep_dtype_and_reach_the_requested_size():
    batch = torch.randint(0, 256, (3, 3, 40, 60), dtype=torch.uint8)
    out = resize_batch(batch, (20, 30))
    assert out.shape == (3, 3, 20, 30) and out.dtype == torch.uint8
    assert resize_batch(batch, (40, 60)) is batch
    flat = torch.full((1, 3, 40, 40), 77, dtype=torch.uint8)
    assert torch.equal(resize_batch(flat, 13), torch.full((1, 3, 13, 13), 77, dtype=torch.uint8))
    rgb = np.random.default_rng(0).integers(0, 256, (50, 80, 3), dtype=np.uint8)
    assert resize_image(rgb, 0.5).shape == (25, 40, 3)
    assert upsample_map(np.zeros((5, 8), np.float16), (50, 80)).shape == (50, 80)


def test_check_images_accepts_labels_and_masks_and_names_the_problem():
    images = torch.zeros((4, 1, 8, 8), dtype=torch.uint8)
    _, masks = check_images(images, torch.ones((4, 8, 8), dtype=torch.int64), channels=(1,))
    assert masks.dtype == torch.uint8
    with pytest.raises(ValueError, match="val: masks"):
        check_images(images, torch.ones((4, 7, 8)), name="val", channels=(1,))
    with pytest.raises(ValueError, match="expected uint8 \\(N, 3, H, W\\)"):
        check_images(images)
