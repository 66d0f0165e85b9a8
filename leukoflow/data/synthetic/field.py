"""A microscope field: red cells, platelets and white cells composed into one RGB image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from leukoflow.data.synthetic.cells import BOX_EXTENT, CELL_KINDS, CellSpec, draw_cell, sample_radius
from leukoflow.data.synthetic.smear import (
    Stain,
    develop,
    platelet_density,
    red_cell_thickness,
    sample_stain,
)

# Planted region labels, for tests and for checking colours against the real slides.
BACKGROUND, RED_CELL, CYTOPLASM, NUCLEUS, PLATELET = range(5)
# Red-cell diameter relative to the white-cell diameter: 75/120 and 90/135 on real slides.
RED_TO_WHITE = (0.6, 0.67)


@dataclass(frozen=True)
class Field:
    rgb: np.ndarray  # (H, W, 3) uint8
    nucleus: np.ndarray  # (H, W) bool, white-cell nuclei
    body: np.ndarray  # (H, W) bool, whole white cells
    regions: np.ndarray  # (H, W) uint8, one of BACKGROUND..PLATELET


def render_field(
    rng: np.random.Generator,
    height: int,
    width: int,
    cells: Sequence[CellSpec],
    *,
    stain: Stain,
    red_cell_diameter: float | None,
    platelets_per_megapixel: float = 0.0,
    red_cell_clearance: float = 1.0,
) -> Field:
    """Draw the white cells `cells` among red cells (none if `red_cell_diameter` is None).

    Red cells keep clear of each white cell's radius times `red_cell_clearance`; below 1 they
    lie over its cytoplasm, as where a thick smear presses them against it.
    """
    density = np.zeros((height, width, 3), dtype=np.float32)
    regions = np.zeros((height, width), dtype=np.uint8)
    if red_cell_diameter is not None:
        keep_out = np.array([(c.x, c.y, c.radius * red_cell_clearance) for c in cells], dtype=np.float32)
        keep_out = keep_out.reshape(-1, 3)
        thickness = red_cell_thickness(rng, height, width, red_cell_diameter, keep_out)
        density += thickness[:, :, None] * stain.densities["red_cell"][None, None, :]
        regions[thickness > 0.3] = RED_CELL
        if platelets_per_megapixel > 0:
            platelets = platelet_density(rng, height, width, red_cell_diameter, platelets_per_megapixel)
            density += platelets[:, :, None] * stain.densities["platelet"][None, None, :]
            regions[platelets > 0.3] = PLATELET
    nucleus = np.zeros((height, width), dtype=bool)
    body = np.zeros((height, width), dtype=bool)
    for spec in cells:
        patch = draw_cell(rng, spec, stain)
        # Clip the patch box to the image: cells may reach over the edge of a crop.
        top, left = max(patch.top, 0), max(patch.left, 0)
        bottom = min(patch.top + patch.density.shape[0], height)
        right = min(patch.left + patch.density.shape[1], width)
        if bottom <= top or right <= left:
            continue
        inner = (slice(top - patch.top, bottom - patch.top), slice(left - patch.left, right - patch.left))
        density[top:bottom, left:right] += patch.density[inner]
        nucleus[top:bottom, left:right] |= patch.nucleus[inner]
        body[top:bottom, left:right] |= patch.body[inner]
    regions[body] = CYTOPLASM
    regions[nucleus] = NUCLEUS
    return Field(develop(rng, density, stain), nucleus, body, regions)


def crop_scale(rng: np.random.Generator, size: int) -> tuple[float, float]:
    """White- and red-cell diameters for a single-cell crop: the cell about half the crop wide."""
    white = 0.5 * size * rng.uniform(0.84, 1.16)
    return white, white * rng.uniform(*RED_TO_WHITE)


def render_crop(
    rng: np.random.Generator,
    kind: str,
    size: int = 257,
    *,
    light_gradient: tuple[float, float] = (0.0, 0.0),
    extra_vignetting: float = 0.0,
    red_cell_clearance: float = 1.0,
) -> Field:
    """One white cell of `kind` near the centre of a size x size field of red cells.

    `light_gradient` (x, y) is added to the stain's gentle illumination tilt (0.4: 40 % darker
    at one edge than in the middle) and `extra_vignetting` to its corner darkening: uneven light
    that a global threshold cannot follow. `red_cell_clearance` below 1 lets red cells lie over
    the white cell's cytoplasm. They draw nothing from `rng`, so the light alone changes the
    same crop; at their defaults the crop is drawn exactly as before they existed.
    """
    if kind not in CELL_KINDS:
        raise ValueError(f"unknown white-cell kind {kind!r}; expected one of {CELL_KINDS}")
    white, red = crop_scale(rng, size)
    jitter = rng.uniform(-0.015, 0.015, 2) * size
    spec = CellSpec(kind, size / 2.0 + jitter[0], size / 2.0 + jitter[1], sample_radius(rng, kind, white))
    stain = sample_stain(rng)
    if any(light_gradient) or extra_vignetting:
        tilt = (stain.tilt[0] + float(light_gradient[0]), stain.tilt[1] + float(light_gradient[1]))
        stain = replace(stain, tilt=tilt, vignetting=stain.vignetting + float(extra_vignetting))
    return render_field(
        rng,
        size,
        size,
        [spec],
        stain=stain,
        red_cell_diameter=red,
        platelets_per_megapixel=rng.uniform(0.0, 40.0),
        red_cell_clearance=red_cell_clearance,
    )


def render_segmented_cell(
    rng: np.random.Generator, kind: str, size: int = 450, stain: Stain | None = None, scale: float = 1.0
) -> Field:
    """A C-NMC style cell: stain-normalised (little stain variation), alone on exact black.

    Only a square around the cell is rendered (the rest of the frame is black anyway), then
    pasted into the size x size frame. `stain` and `scale` (cell size factor) are the subject's
    when the caller draws them once per subject; by default each cell draws its own stain.
    """
    if kind not in CELL_KINDS:
        raise ValueError(f"unknown white-cell kind {kind!r}; expected one of {CELL_KINDS}")
    white = size * rng.uniform(0.36, 0.5) * float(scale)
    centre = size / 2.0 + rng.uniform(-0.04, 0.04, 2) * size
    radius = sample_radius(rng, kind, white)
    reach = int(np.ceil(radius * (BOX_EXTENT.get(kind, 1.35) + 0.05))) + 6
    left, top = (np.floor(centre) - reach).astype(int)
    spec = CellSpec(kind, float(centre[0] - left), float(centre[1] - top), radius)
    box = render_field(
        rng,
        2 * reach + 1,
        2 * reach + 1,
        [spec],
        stain=sample_stain(rng, variation=0.3) if stain is None else stain,
        red_cell_diameter=None,
    )
    rgb = np.zeros((size, size, 3), dtype=np.uint8)
    nucleus = np.zeros((size, size), dtype=bool)
    body = np.zeros((size, size), dtype=bool)
    regions = np.zeros((size, size), dtype=np.uint8)
    # Paste the box, clipped to the frame.
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + box.rgb.shape[0], size), min(left + box.rgb.shape[1], size)
    inner = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    rgb[y0:y1, x0:x1] = np.where(box.body[inner][:, :, None], box.rgb[inner], 0)
    nucleus[y0:y1, x0:x1] = box.nucleus[inner]
    body[y0:y1, x0:x1] = box.body[inner]
    regions[y0:y1, x0:x1] = box.regions[inner]
    return Field(rgb, nucleus, body, regions)
