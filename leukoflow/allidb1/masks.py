"""The white-cell mask of the slide stage (Ghosh, Singh & Sheet 2017, Sec. III-C): the heatmap's
hard threshold AND the eosin threshold, then the improved method's clean-up. numpy, scipy and
scikit-image only: the segmentation job needs no torch.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def threshold_map(heatmap: np.ndarray, threshold: float) -> np.ndarray:
    """Hard threshold of a [0, 1] heatmap: True strictly above `threshold`."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"heat threshold must lie in [0, 1], got {threshold}")
    return np.asarray(heatmap) > np.float32(threshold)


def remove_small_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop 8-connected components with fewer than `min_area` pixels.

    Written with scipy.ndimage rather than skimage's `remove_small_objects`, whose size argument
    changed meaning between the scikit-image versions this package supports (0.24 to 0.26).
    """
    if min_area <= 1 or not mask.any():
        return mask.copy()
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_area
    keep[0] = False
    return keep[labels]


def fill_small_holes(mask: np.ndarray, max_hole_area: int) -> np.ndarray:
    """Fill background regions enclosed by the mask that have at most `max_hole_area` pixels.

    Only small holes: the gap enclosed by a ring of touching cells is also a hole, and filling
    it would merge the ring into one blob with a single distance peak in its middle.
    """
    if max_hole_area <= 0:
        return mask.copy()
    holes = ndimage.binary_fill_holes(mask) & ~mask
    labels, _ = ndimage.label(holes)  # 4-connected: background is 4-connected under an 8-connected mask
    sizes = np.bincount(labels.ravel())
    small = sizes <= max_hole_area
    small[0] = False
    return mask | small[labels]


def wbc_mask(
    rgb: np.ndarray,
    heatmap: np.ndarray,
    heat_threshold: float,
    eosin_threshold: float | None,
    min_area: int = 0,
    opening_radius: int = 2,
    max_hole_area: int = 64,
) -> np.ndarray:
    """Binary white-cell mask: hot in the heatmap AND stained by eosin, then cleaned.

    `heatmap` is `excitation_map`'s output for `rgb` (same height and width). A pixel is kept
    where the heatmap exceeds `heat_threshold` and the eosin channel exceeds `eosin_threshold`
    (see `stain.eosin_mask` for that scale; None = Otsu). Clean-up, in order: a binary opening
    with a disk of `opening_radius` (skimage.morphology) removes thin bridges and isolated
    pixels along red-cell rims; holes of at most `max_hole_area` pixels are filled (pale nucleoli
    or cytoplasm inside a cell must not put false peaks into the distance map used for
    centroids, while the larger gap inside a ring of touching cells must stay open, see
    `fill_small_holes`; the right size depends on magnification, so the default 64 px is
    deliberately small); components under `min_area` pixels (platelets, debris) are dropped.
    """
    rgb = np.asarray(rgb)
    heatmap = np.asarray(heatmap)
    if heatmap.shape != rgb.shape[:2]:
        raise ValueError(f"heatmap shape {heatmap.shape} does not match image shape {rgb.shape[:2]}")
    from leukoflow.core.stain import eosin_mask

    mask = threshold_map(heatmap, heat_threshold) & eosin_mask(rgb, eosin_threshold)
    return clean_mask(mask, opening_radius=opening_radius, max_hole_area=max_hole_area, min_area=min_area)


def clean_mask(
    mask: np.ndarray, *, opening_radius: int = 0, closing_radius: int = 0, max_hole_area: int = 0, min_area: int = 0
) -> np.ndarray:
    """Binary opening, closing (disks of these radii), small-hole filling, small-component removal,
    in that order; a size of 0 skips its step (the as-published method skips them all)."""
    from skimage.morphology import disk

    if opening_radius > 0:
        mask = ndimage.binary_opening(mask, structure=disk(opening_radius))
    if closing_radius > 0:
        mask = ndimage.binary_closing(mask, structure=disk(closing_radius), border_value=0)
    mask = fill_small_holes(mask, max_hole_area)
    return remove_small_components(mask, min_area)
