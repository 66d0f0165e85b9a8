"""The paper's augmentation (rotations 30/45/60 degrees, zoom 0.25) of images and masks together."""

import pytest
import torch

from leukoflow.ukm.augment import rotate_zoom, sampling_matrices


def square_scene(n=3, size=32):
    images = torch.zeros((n, 1, size, size), dtype=torch.uint8)
    masks = torch.zeros((n, size, size), dtype=torch.uint8)
    for i in range(n):
        masks[i, 6 + i : 14 + i, 18:28] = 1
        images[i, 0] = masks[i] * 200 + 20
    return images, masks


def test_copies_in_source_major_order_with_the_untouched_image_first():
    images, masks = square_scene()
    out, out_masks, sources = rotate_zoom(images, masks, angles_deg=(30, 45, 60), zoom=0.25, seed=1)
    assert out.shape == (12, 1, 32, 32) and out_masks.shape == (12, 32, 32)
    assert sources.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert torch.equal(out[::4], images) and torch.equal(out_masks[::4], masks)
    assert set(out_masks.unique().tolist()) <= {0, 1}  # masks stay binary
    assert not torch.equal(out[1], images[0])


def test_image_and_mask_move_together():
    images, masks = square_scene()
    out, out_masks, _ = rotate_zoom(images, masks, angles_deg=(45,), zoom=0.25, seed=3)
    inside = out[:, 0][out_masks.bool()].float().mean()
    outside = out[:, 0][~out_masks.bool()].float().mean()
    assert inside > 180 and outside < 40


def test_quarter_turn_is_counter_clockwise_and_exact():
    images, masks = square_scene(n=1)
    out, out_masks, _ = rotate_zoom(images, masks, angles_deg=(90,), zoom=0.0)
    assert torch.equal(out[1], torch.rot90(images[0], 1, dims=(-2, -1)))
    assert torch.equal(out_masks[1], torch.rot90(masks[0], 1, dims=(-2, -1)))


def test_zoom_factors_are_seeded_and_in_range():
    thetas = sampling_matrices(50, (30, 45, 60), 0.25, seed=7)
    scale = 1 / torch.linalg.det(thetas[..., :2]).sqrt()  # the zoom factor of each copy
    assert torch.allclose(scale[:, 0], torch.ones(50))
    assert (scale[:, 1:] >= 0.75 - 1e-5).all() and (scale[:, 1:] <= 1.25 + 1e-5).all()
    assert scale[:, 1:].std() > 0.05
    assert torch.equal(thetas, sampling_matrices(50, (30, 45, 60), 0.25, seed=7))


def test_images_without_masks_and_bad_input():
    images, _ = square_scene(n=2)
    out, out_masks, sources = rotate_zoom(images.expand(-1, 3, -1, -1).contiguous(), angles_deg=(30,))
    assert out.shape == (4, 3, 32, 32) and out_masks is None and sources.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="uint8"):
        rotate_zoom(images.float())
    with pytest.raises(ValueError, match="zoom"):
        rotate_zoom(images, zoom=1.5)
