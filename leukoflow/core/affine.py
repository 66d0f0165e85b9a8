"""Batched affine resampling of images, on whatever device they are: the one implementation of
rotation, mirroring and zoom that every augmenter uses (rotations and mirrors of single-cell crops,
rotation + zoom of images with their masks, random rotations and flips of segmented cells).

Conventions: angles in degrees, positive = counter-clockwise as the image is displayed (row 0 at
the top), the sense of `torch.rot90(x, 1, dims=(-2, -1))`, about the frame centre. A matrix maps
an OUTPUT position to the INPUT position it samples, in `F.affine_grid`'s normalised frame (x right,
y down): a counter-clockwise rotation by a samples the input at R(-a) p = (x cos a - y sin a,
x sin a + y cos a). Square frames need no aspect correction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F


def sampling_matrices(
    angles_deg,
    *,
    zoom=1.0,
    flip_output=(1.0, 1.0),
    flip_input=(1.0, 1.0),
    device=None,
) -> torch.Tensor:
    """(..., 2, 3) float32 output-to-input maps: diag(flip_output) R(-a) diag(flip_input) / zoom.

    Every argument broadcasts (numbers, sequences or tensors of one shape). In image terms, -1 on
    x in `flip_input` gives flip_lr(rotate(x)) (the factor next to the output position), -1 on x
    in `flip_output` gives rotate(flip_lr(x)) (tests/core/test_affine.py). Trigonometry in float64; values within 1e-12 of 0 are
    snapped to 0 so multiples of 90 degrees are exact permutations of pixel centres.
    """
    angles = torch.as_tensor(angles_deg, dtype=torch.float64)
    zoom = torch.as_tensor(zoom, dtype=torch.float64)
    fo = [torch.as_tensor(v, dtype=torch.float64) for v in flip_output]
    fi = [torch.as_tensor(v, dtype=torch.float64) for v in flip_input]
    radians = angles * (math.pi / 180.0)
    cos, sin = torch.cos(radians), torch.sin(radians)
    cos = torch.where(cos.abs() < 1e-12, torch.zeros_like(cos), cos)
    sin = torch.where(sin.abs() < 1e-12, torch.zeros_like(sin), sin)
    a, b = fo[0] * cos * fi[0] / zoom, -fo[0] * sin * fi[1] / zoom
    c, d = fo[1] * sin * fi[0] / zoom, fo[1] * cos * fi[1] / zoom
    a, b, c, d = torch.broadcast_tensors(a, b, c, d)
    zero = torch.zeros_like(a)
    rows = torch.stack([torch.stack([a, b, zero], -1), torch.stack([c, d, zero], -1)], -2)
    return rows.to(device=device or "cpu", dtype=torch.float32)


def is_identity(theta: torch.Tensor) -> torch.Tensor:
    """Per matrix (..., 2, 3): whether it samples every output pixel at its own position."""
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=theta.device, dtype=theta.dtype)
    return (theta == identity).flatten(-2).all(-1)


def warp(
    images: torch.Tensor, thetas: torch.Tensor, *, mode: str = "bilinear", padding: str = "reflection"
) -> torch.Tensor:
    """Resample float images (N, C, H, W) by one matrix each (N, 2, 3) (pixel centres, not corners)."""
    grid = F.affine_grid(thetas.to(images.device, images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode=mode, padding_mode=padding, align_corners=False)


def to_uint8(values: torch.Tensor) -> torch.Tensor:
    """Round and clamp resampled values back to uint8."""
    return values.round_().clamp_(0, 255).to(torch.uint8)


def check_square_uint8(images: torch.Tensor, channels: Sequence[int] | None = None, name: str = "images") -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise ValueError(f"{name} must be uint8, got {images.dtype}")
    if images.ndim != 4 or images.shape[2] != images.shape[3] or (channels and images.shape[1] not in channels):
        raise ValueError(f"{name} must have shape (N, C, S, S), got {tuple(images.shape)}")
