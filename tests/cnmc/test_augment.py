"""Augmented copies: batched on the device, every copy changed, the black background kept black."""

import torch

from leukoflow.cnmc.augment import OPERATIONS, AugmentSettings, augment, draw_operations


def cells(n=16, size=32):
    images = torch.zeros((n, 3, size, size), dtype=torch.uint8)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = (yy - 12) ** 2 + (xx - 14) ** 2 < 64
    images[:, 0][:, disc] = 150
    images[:, 1][:, disc] = 60
    images[:, 2][:, disc] = 200
    return images


def test_every_copy_draws_at_least_one_operation():
    ops = draw_operations(1000, 0.1, torch.Generator().manual_seed(0), "cpu")
    assert ops.shape == (1000, len(OPERATIONS)) and ops.any(dim=1).all()


def test_copies_change_the_cell_and_keep_the_background_black():
    images = cells()
    copies = augment(images, AugmentSettings(chunk=5), seed=1)
    assert copies.shape == images.shape and copies.dtype == torch.uint8
    assert all(not torch.equal(a, b) for a, b in zip(images, copies))
    # corners are background in every copy: rotation brings black in, photometry leaves it alone
    assert (copies[:, :, :2, :2] == 0).all() and (copies[:, :, -2:, -2:] == 0).all()
    # an empty (all black) frame stays black
    assert (augment(torch.zeros((3, 3, 16, 16), dtype=torch.uint8), AugmentSettings(), seed=0) == 0).all()


def test_same_seed_same_copies():
    images = cells(4)
    assert torch.equal(augment(images, AugmentSettings(), seed=3), augment(images, AugmentSettings(), seed=3))
    assert not torch.equal(augment(images, AugmentSettings(), seed=3), augment(images, AugmentSettings(), seed=4))
