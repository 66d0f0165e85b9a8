"""White cells of a smear, found from their nuclei at the smear's own scale, one per cell.

A nucleus is where the nucleus index (red minus blue optical density, `scale.nucleus_index`) is
high. A segmented neutrophil's nucleus is 2-5 lobes joined by strands that any threshold breaks,
so one component per nucleus would count its lobes as cells (measured on the BCCD smears: 1.32
detections per white cell, precision 0.53). Lobes are grouped instead, in red-cell units:

1. nucleus mask -> closing with a disk of `group_gap` red-cell diameters (the gaps between the
   lobes of one cell are narrower than that; the cytoplasm between two cells is wider) ->
   holes filled -> connected groups;
2. groups with less nucleus than `min_nucleus_area` red-cell diameters squared are platelets,
   granules or debris and are dropped;
3. a group holding two or more large round nuclei (a clump of touching lymphocytes or blasts,
   each with an inscribed radius of at least `split_radius` red-cell diameters, `split_distance`
   apart) is split between them by a watershed of the distance map; lobes are thinner than that
   and never split a cell. Planted smears (seeds 20-59, both kinds, 80 smears): recall 0.97,
   precision 0.997, no cell counted twice; the misses are neutrophils touching a lymphocyte
   (one detection for both) and a clump of blasts whose nuclei overlap by a third.

The mask is computed at a resolution where a red cell is about 40 px across (a 2592x1944 slide
is handled at a quarter of its pixels). Every size is in red-cell diameters, so the finder follows
the magnification; `diameter_px` of a cell is the mean side of its box, which is the nucleus
group's box widened by `cytoplasm` red-cell diameters on each side (our choice: the rim of
cytoplasm of lymphoid cells is thin, neutrophils' is wider).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from leukoflow.core.stain import optical_density
from leukoflow.slides.scale import nucleus_index

WORKING_RED_CELL_PX = 40.0


@dataclass(frozen=True)
class FinderSettings:
    """Our choices, measured on the BCCD smears and the synthetic slides (docs/screen.md)."""

    nucleus_threshold: float = 0.12
    group_gap: float = 0.15
    min_nucleus_area: float = 0.18
    split_radius: float = 0.4
    split_distance: float = 0.7
    cytoplasm: float = 0.2


@dataclass(frozen=True)
class WhiteCells:
    """Cells of one image in its own pixels: centres (N, 2) float x, y; boxes (N, 4) int x0, y0,
    x1, y1 (exclusive); nucleus extent (N,) px (mean side of the nucleus group's box); lobes (N,)
    nucleus components in the group; nucleus_area (N,) px."""

    centres: np.ndarray
    boxes: np.ndarray
    nucleus_extent: np.ndarray
    lobes: np.ndarray
    nucleus_area: np.ndarray

    def __len__(self) -> int:
        return len(self.centres)

    @property
    def diameters(self) -> np.ndarray:
        return ((self.boxes[:, 2] - self.boxes[:, 0]) + (self.boxes[:, 3] - self.boxes[:, 1])) / 2.0


def _disk(radius: int) -> np.ndarray:
    from skimage.morphology import disk

    return disk(max(1, radius)).astype(bool)


def _split_clumps(groups: np.ndarray, nuclei: np.ndarray, settings: FinderSettings, unit: float) -> np.ndarray:
    """Relabel `groups` so a group of several touching cells becomes one label per cell.

    A cell is marked by a large round nucleus (a peak of the distance map at least `split_radius`
    deep); the group is shared between its marks by a watershed of the distance map. Lobes with no
    such nucleus do not mark a cell: tried as marks beside a round nucleus (a neutrophil touching a
    lymphocyte), they split 1 in 30 real BCCD neutrophils whose thickest lobe is round enough to
    peak, so a neutrophil touching a lymphocyte stays one detection (a known limit).
    """
    from skimage.feature import peak_local_max
    from skimage.morphology import remove_small_holes
    from skimage.segmentation import watershed

    radius, distance = settings.split_radius * unit, settings.split_distance * unit
    out = groups.copy()
    next_label = int(groups.max()) + 1
    for label, box in enumerate(ndimage.find_objects(groups), start=1):
        if box is None:
            continue
        inside = groups[box] == label
        own = nuclei[box] & inside
        if own.sum() < np.pi * radius * radius * 1.5:
            continue  # too little nucleus for two cells with a large nucleus each
        # Only holes the size of a nucleolus are filled: a ring of touching nuclei encloses cytoplasm,
        # and filling it would put one deep false peak in the ring's middle (seen on planted clumps).
        core = remove_small_holes(own, max_size=max(1, int(np.pi * (radius / 2) ** 2)))
        depth = ndimage.distance_transform_edt(np.pad(core, 1))[1:-1, 1:-1]  # the box's edge is no nucleus
        peaks = peak_local_max(depth, min_distance=max(1, int(distance)), threshold_abs=radius, exclude_border=False)
        if len(peaks) < 2:
            continue
        markers = np.zeros(inside.shape, np.int64)
        markers[peaks[:, 0], peaks[:, 1]] = np.arange(1, len(peaks) + 1)
        parts = watershed(-depth, markers, mask=inside)
        region = out[box]
        for part in range(2, len(peaks) + 1):
            region[parts == part] = next_label
            next_label += 1
    return out


def find_white_cells(
    rgb: np.ndarray, red_cell_px: float, settings: FinderSettings = FinderSettings(), density: np.ndarray | None = None
) -> WhiteCells:
    """The white cells of an HxWx3 uint8 smear whose red cells are `red_cell_px` across.

    `density` is the image's `optical_density` if already computed. Cells are sorted by (y, x).
    """
    rgb = np.asarray(rgb)
    if not red_cell_px > 0:
        raise ValueError(f"red-cell diameter must be positive, got {red_cell_px}")
    height, width = rgb.shape[:2]
    step = max(1, int(red_cell_px / WORKING_RED_CELL_PX))
    if density is None:
        density = optical_density(np.ascontiguousarray(rgb[::step, ::step]))
    else:
        density = density[::step, ::step]
    unit = red_cell_px / step  # one red-cell diameter in working pixels
    index = ndimage.gaussian_filter(nucleus_index(density), 1.0)
    nuclei = index > settings.nucleus_threshold
    gap = int(round(settings.group_gap * unit))
    padded = np.pad(nuclei, gap + 1)
    grouped = ndimage.binary_closing(padded, structure=_disk(gap))[gap + 1 : -gap - 1, gap + 1 : -gap - 1]
    grouped = ndimage.binary_fill_holes(grouped | nuclei)
    groups, count = ndimage.label(grouped, structure=np.ones((3, 3), bool))
    if count:
        area = np.bincount(groups[nuclei], minlength=count + 1)
        small = area < settings.min_nucleus_area * unit * unit
        small[0] = True
        groups[small[groups]] = 0
        groups = _split_clumps(groups, nuclei, settings, unit)
        groups, count = _relabel(groups)
    empty = np.zeros((0, 2)), np.zeros((0, 4), np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0)
    if count == 0:
        return WhiteCells(*empty)
    labels = np.arange(1, count + 1)
    centres = np.asarray(ndimage.center_of_mass(groups > 0, groups, labels)).reshape(-1, 2)[:, ::-1] * step
    lobe_labels, _ = ndimage.label(nuclei, structure=np.ones((3, 3), bool))
    # Lobes per cell: distinct (cell, nucleus component) pairs over the nucleus pixels of cells.
    pairs = np.unique(np.stack([groups[nuclei], lobe_labels[nuclei]]), axis=1)
    lobes = np.bincount(pairs[0][pairs[0] > 0], minlength=count + 1)[1:].astype(np.int64)
    nucleus_area = np.bincount(groups[nuclei], minlength=count + 1)[1:] * float(step * step)
    boxes, extent = [], []
    margin = settings.cytoplasm * red_cell_px
    for box in ndimage.find_objects(groups):
        y0, y1 = box[0].start * step, box[0].stop * step
        x0, x1 = box[1].start * step, box[1].stop * step
        extent.append(((x1 - x0) + (y1 - y0)) / 2.0)
        boxes.append(
            [
                max(0, int(x0 - margin)),
                max(0, int(y0 - margin)),
                min(width, int(np.ceil(x1 + margin))),
                min(height, int(np.ceil(y1 + margin))),
            ]
        )
    boxes = np.asarray(boxes, np.int64)
    order = np.lexsort((centres[:, 0], centres[:, 1]))
    return WhiteCells(centres[order], boxes[order], np.asarray(extent)[order], lobes[order], nucleus_area[order])


def _relabel(groups: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels 1..n for the labels present in `groups` (0 stays background)."""
    present = np.unique(groups)
    present = present[present > 0]
    lookup = np.zeros(int(groups.max()) + 1, np.int64)
    lookup[present] = np.arange(1, len(present) + 1)
    return lookup[groups], len(present)
