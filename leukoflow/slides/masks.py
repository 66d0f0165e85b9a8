"""Binary masks of the slide stage (Ghosh, Singh & Sheet 2017, Sec. III-C): the heatmap's hard
threshold, and the clean-up of the improved method (ALL-IDB1) and of the screening's nucleus mask. numpy, scipy and
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
