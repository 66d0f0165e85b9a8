"""The UKM-WBC paper's augmentation: rotations by 30, 45 and 60 degrees and zoom 0.25, applied to
images and their nucleus masks together, in batches on the job's device.

Every training image is kept as it is and copied once per angle; each copy is also zoomed by a
factor drawn uniformly from [1 - zoom, 1 + zoom] (Keras' `zoom_range` reading of "zoom 0.25";
one factor for both axes, our choice). Output order is source-major: copy v of source i is row
i * n_variants + v, copy 0 being the untouched image. Only training images are augmented, after
the split, so no copy of a test image exists anywhere.

Images are resampled bilinearly, masks by nearest neighbour on the same grid, both with
reflection at the border (a cell near the edge is mirrored, not cut by a black wedge).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from leukoflow.core import affine
from leukoflow.core.affine import to_uint8, warp

PAPER_ANGLES = (30.0, 45.0, 60.0)
PAPER_ZOOM = 0.25


def sampling_matrices(n_sources: int, angles_deg: Sequence[float], zoom: float, seed: int) -> torch.Tensor:
    """(n_sources, 1 + len(angles), 2, 3) float32 output-to-input maps for `F.affine_grid`.

    A counter-clockwise rotation by a (as displayed, row 0 on top) zoomed by z samples the input
    at R(-a) p / z (the convention of `allidb2.augment`); variant 0 is the identity.
    """
    if not 0 <= zoom < 1:
        raise ValueError(f"zoom must lie in [0, 1), got {zoom}")
    angles = torch.tensor([0.0, *[float(a) for a in angles_deg]], dtype=torch.float64)
    generator = torch.Generator().manual_seed(int(seed))
    factors = torch.empty((n_sources, len(angles)), dtype=torch.float64).uniform_(
        1.0 - zoom, 1.0 + zoom, generator=generator
    )
    factors[:, 0] = 1.0
    return affine.sampling_matrices(angles[None, :], zoom=factors)


def rotate_zoom(
    images: torch.Tensor,
    masks: torch.Tensor | None = None,
    *,
    angles_deg: Sequence[float] = PAPER_ANGLES,
    zoom: float = PAPER_ZOOM,
    seed: int = 0,
    device: torch.device | str | None = None,
    chunk: int = 16,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Augmented copies of uint8 images (N, C, S, S) and optional masks (N, S, S).

    Returns
    -------
    (images, masks, sources)
        uint8 (N * V, C, S, S) and (N * V, S, S) (or None) on the CPU, and the int64 source index
        of every output row; V = 1 + len(angles_deg).

    `chunk` source images go to `device` per `grid_sample` call (float32 working set about
    chunk * V * C * S * S * 4 bytes).
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be uint8 (N, C, S, S), got {images.dtype} {tuple(images.shape)}")
    if masks is not None and tuple(masks.shape) != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"masks {tuple(masks.shape)} do not match images {tuple(images.shape)}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    n, channels, size, _ = images.shape
    thetas = sampling_matrices(n, angles_deg, zoom, seed)
    variants = thetas.shape[1]
    out = torch.empty((n * variants, channels, size, size), dtype=torch.uint8)
    out_masks = None if masks is None else torch.empty((n * variants, size, size), dtype=torch.uint8)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        count = (stop - start) * variants
        chunk_thetas = thetas[start:stop].reshape(count, 2, 3)
        batch = images[start:stop].to(device).float().repeat_interleave(variants, dim=0)
        sampled = to_uint8(warp(batch, chunk_thetas)).cpu()
        sampled[::variants] = images[start:stop]  # variant 0 is the image itself, bit for bit
        out[start * variants : stop * variants] = sampled
        if masks is not None:
            mask_batch = masks[start:stop].to(device).float()[:, None].repeat_interleave(variants, dim=0)
            warped = warp(mask_batch, chunk_thetas, mode="nearest")
            warped = warped[:, 0].to(torch.uint8).cpu()
            warped[::variants] = masks[start:stop]
            out_masks[start * variants : stop * variants] = warped
    sources = torch.arange(n).repeat_interleave(variants)
    return out, out_masks, sources
