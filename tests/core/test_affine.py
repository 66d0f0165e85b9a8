"""The one affine resampler: its sense of rotation, mirrors, zoom and identity."""

import torch

from leukoflow.core.affine import is_identity, sampling_matrices, to_uint8, warp


def image():
    return torch.arange(3 * 8 * 8, dtype=torch.float32).reshape(1, 3, 8, 8) % 251


def test_a_quarter_turn_is_rot90_counter_clockwise_and_exact():
    out = to_uint8(warp(image(), sampling_matrices([90.0])))
    assert torch.equal(out, torch.rot90(image(), 1, dims=(-2, -1)).to(torch.uint8))


def test_mirrors_before_and_after_rotation():
    flipped = to_uint8(warp(image(), sampling_matrices([0.0], flip_input=(-1.0, 1.0))))
    assert torch.equal(flipped, torch.flip(image(), dims=(-1,)).to(torch.uint8))
    # flip(rotate(x)) against rotate(flip(x)): the two orders differ for 90 degrees.
    after = to_uint8(warp(image(), sampling_matrices([90.0], flip_input=(-1.0, 1.0))))
    expected = torch.flip(torch.rot90(image(), 1, dims=(-2, -1)), dims=(-1,)).to(torch.uint8)
    assert torch.equal(after, expected)
    before = to_uint8(warp(image(), sampling_matrices([90.0], flip_output=(-1.0, 1.0))))
    assert torch.equal(before, torch.rot90(torch.flip(image(), dims=(-1,)), 1, dims=(-2, -1)).to(torch.uint8))


def test_broadcasting_zoom_and_identity():
    thetas = sampling_matrices(torch.tensor([[0.0, 30.0]]), zoom=torch.tensor([[1.0], [2.0]]))
    assert thetas.shape == (2, 2, 2, 3)
    assert is_identity(thetas).tolist() == [[True, False], [False, False]]
    assert torch.allclose(thetas[1, 0, :, :2], torch.eye(2) / 2)
