"""Augmented copies of C-NMC crops, made in batches on the job's device (Liu & Long 2019).

Each copy draws one or several of: rotation (any angle), horizontal flip, vertical flip,
Gaussian noise, a contrast change and colour-channel shifts; every operation is drawn with
probability `p` and a copy that drew none gets one at random, so no copy equals its original.
Rotation and flips are one affine resampling (`grid_sample`) per chunk; the photometric changes
touch the cell only, the black background stays black as in every real frame (a background
lifted by a channel shift would be a cue no test cell carries).

The copies are made once per training job (the paper adds augmented images to its training
sets); a seeded generator on the device makes them reproducible for a given device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from leukoflow.core.affine import sampling_matrices, to_uint8, warp

OPERATIONS = ("rotation", "hflip", "vflip", "noise", "contrast", "channel_shift")


@dataclass(frozen=True)
class AugmentSettings:
    """`cnmc.augment` of the config (the paper names the operations, not their ranges: ours)."""

    p: float = 0.5
    noise_std: float = 8.0  # grey levels, upper end of the per-copy standard deviation
    contrast: float = 0.2  # factor drawn in [1 - contrast, 1 + contrast]
    channel_shift: float = 20.0  # grey levels, per channel, drawn in [-shift, shift]
    chunk: int = 256

    @classmethod
    def from_config(cls, settings: dict) -> AugmentSettings:
        return cls(**{key: settings[key] for key in ("p", "noise_std", "contrast", "channel_shift") if key in settings})


def draw_operations(n: int, p: float, generator: torch.Generator, device) -> torch.Tensor:
    """(n, 6) bool: which operations each copy applies; at least one per copy."""
    chosen = torch.rand((n, len(OPERATIONS)), generator=generator, device=device) < p
    none = ~chosen.any(dim=1)
    forced = torch.randint(0, len(OPERATIONS), (n,), generator=generator, device=device)
    chosen[none, forced[none]] = True
    return chosen


def augment(images: torch.Tensor, settings: AugmentSettings, seed: int, device=None) -> torch.Tensor:
    """Augmented copies of uint8 (N, 3, S, S) `images`, computed on `device`, returned on the CPU.

    Raises
    ------
    ValueError
        For anything but a uint8 (N, 3, S, S) batch.
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"augment expects uint8 (N, 3, S, S), got {images.dtype} {tuple(images.shape)}")
    device = torch.device(device or "cpu")
    generator = torch.Generator(device=device).manual_seed(int(seed))
    out = torch.empty_like(images)
    for start in range(0, images.shape[0], settings.chunk):
        batch = images[start : start + settings.chunk].to(device)
        out[start : start + settings.chunk] = augment_batch(batch, settings, generator).cpu()
    return out


def augment_batch(batch: torch.Tensor, settings: AugmentSettings, generator: torch.Generator) -> torch.Tensor:
    """One chunk: uint8 in, uint8 out, on the batch's device."""
    n, device = batch.shape[0], batch.device
    ops = draw_operations(n, settings.p, generator, device)
    rotate, hflip, vflip, noise, contrast, shift = ops.unbind(dim=1)
    uniform = torch.rand((n, 6), generator=generator, device=device)

    # Geometry: output -> input maps in affine_grid's normalised frame, rotation after flips.
    angle = torch.where(rotate, uniform[:, 0] * 360.0, torch.zeros_like(uniform[:, 0]))
    flip_x = torch.where(hflip, -1.0, 1.0)
    flip_y = torch.where(vflip, -1.0, 1.0)
    theta = sampling_matrices(angle.cpu(), flip_output=(flip_x.cpu(), flip_y.cpu()), device=device)
    x = batch.float()
    geometric = rotate | hflip | vflip
    if bool(geometric.any()):
        x[geometric] = warp(x[geometric], theta[geometric], padding="zeros")
    cell = (x.amax(dim=1, keepdim=True) > 0.5).float()  # the black background stays black

    # Photometry, on the cell only.
    count = cell.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (x * cell).sum(dim=(2, 3), keepdim=True) / count
    factor = 1.0 + settings.contrast * (2.0 * uniform[:, 1] - 1.0)
    factor = torch.where(contrast, factor, torch.ones_like(factor)).view(n, 1, 1, 1)
    x = (x - mean) * factor + mean
    offsets = settings.channel_shift * (2.0 * torch.rand((n, 3), generator=generator, device=device) - 1.0)
    x = x + (offsets * shift[:, None].float()).view(n, 3, 1, 1)
    std = (settings.noise_std * uniform[:, 2] * noise.float()).view(n, 1, 1, 1)
    if bool(noise.any()):
        x = x + std * torch.randn(x.shape, generator=generator, device=device)
    x = x * cell
    return to_uint8(x)
