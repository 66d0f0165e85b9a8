"""The typical white-cell diameter of a slide, from its own nuclei: the unit of the slide stage.

ALL-IDB1 mixes magnifications (300x to 500x): white cells are about 120 px across on one
1712x1368 slide and about 135 px on one 2592x1944 slide, so a size set in pixels, or scaled by
image width, does not follow the cells. Sizes of the improved slide method (minimum area, merge
distance, the network's working scale, the patch side) and the cell-level match radius are
therefore given in white-cell diameters and converted per slide with this estimate, or with
`cell_diameter_px` from the config when the microscope is known.

Estimate: the eosin-positive mask (the nuclei) is closed a little so chromatin texture does not
break a nucleus apart; each connected component's largest inscribed radius (the maximum of its
Euclidean distance transform) measures one nucleus even inside a clump of touching cells, where
the component's area would not. Components smaller than half the 90th-percentile radius (platelets,
neutrophil lobes, debris) are left out; the median inscribed diameter of the rest, divided by the
nucleus-to-cell diameter ratio of lymphoid cells, is the estimate. The mask is taken at half
resolution: nuclei are dozens of pixels across at every magnification of ALL-IDB1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from leukoflow.core.stain import eosin_mask

NUCLEUS_TO_CELL = 0.75
"""Our choice: the median inscribed nucleus diameter over the white-cell diameter, measured on 12
synthetic slides (lymphoid nuclei span 0.78-0.9 of the cell, less where notched); the estimate
then fell within 11% of the generator's median diameter on each of them."""
PLAUSIBLE = 1.3  # own estimate kept within this factor of its resolution's median
SMALL_FRACTION = 0.5  # components below this share of the 90th-percentile radius are not nuclei
DOWNSAMPLE = 2


def nucleus_radii(mask: np.ndarray) -> np.ndarray:
    """Largest inscribed radius (pixels of `mask`) of every 8-connected component, float64."""
    mask = np.asarray(mask, bool)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros(0)
    distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    return np.asarray(ndimage.maximum(distance, labels, np.arange(1, n + 1)), np.float64)


def estimate_cell_diameter(rgb: np.ndarray, eosin_threshold: float | None = None) -> tuple[float, int]:
    """(typical white-cell diameter in slide pixels, nuclei counted); (nan, 0) without nuclei."""
    mask = eosin_mask(np.asarray(rgb)[::DOWNSAMPLE, ::DOWNSAMPLE], eosin_threshold)
    mask = ndimage.binary_closing(mask, structure=np.ones((3, 3), bool), iterations=2)
    mask = ndimage.binary_fill_holes(mask)  # pale nucleoli would shrink the inscribed circle
    radii = nucleus_radii(mask)
    radii = radii[radii >= 3]
    if len(radii) == 0:
        return float("nan"), 0
    nuclei = radii[radii >= SMALL_FRACTION * np.percentile(radii, 90)]
    return float(2 * DOWNSAMPLE * np.median(nuclei) / NUCLEUS_TO_CELL), int(len(nuclei))


def settle_diameters(estimates: pd.DataFrame) -> pd.DataFrame:
    """Add `diameter_px` and `source` to per-slide `estimate_px` (and `width`, `height`, `nuclei`):
    the own estimate where plausible, else the median of the plausible own estimates of the slides
    with the same resolution (see the module docstring)."""
    table = estimates.copy()
    resolution = table["width"].astype(str) + "x" + table["height"].astype(str)
    own = table["estimate_px"].astype(float)
    median = own.groupby(resolution).transform("median")
    plausible = own.between(median / PLAUSIBLE, median * PLAUSIBLE) & (table["nuclei"] > 0)
    # The median of the plausible estimates only, so one wild slide does not move it.
    settled = own.where(plausible).groupby(resolution).transform("median")
    table["diameter_px"] = own.where(plausible, settled).round(1)
    table["source"] = np.where(plausible, "own nuclei", "median of the " + resolution + " slides")
    if table["diameter_px"].isna().any():
        missing = table.loc[table["diameter_px"].isna(), "slide"].tolist()
        raise ValueError(
            f"no white-cell nucleus found on any slide of the resolution of {missing}; set cell_diameter_px"
        )
    return table


def working_scale(diameter: float, input_size: int, crop_cell_fraction: float) -> float:
    """Resize factor that brings a slide whose white cells are `diameter` px across to the scale
    the network was trained at: in ALL-IDB2 the cell is `crop_cell_fraction` of the crop wide,
    and the crop is resized to `input_size`."""
    if not diameter > 0:
        raise ValueError(f"white-cell diameter must be positive, got {diameter}")
    return crop_cell_fraction * input_size / diameter
