"""The typical white-cell diameter of a slide, from its red cells: the unit of the slide stage.

ALL-IDB1 mixes magnifications (300x to 500x): white cells are about 120 px across on one
1712x1368 slide and about 135 px on one 2592x1944 slide, so a size set in pixels, or scaled by
image width, does not follow the cells. Sizes of the improved slide method (minimum area, merge
distance, the network's working scale, the patch side) and the cell-level match radius are
therefore given in white-cell diameters and converted per slide with this estimate, or with
`cell_diameter_px` from the config when the microscope is known.

Estimate: the slide's red-cell diameter (`slides.scale.red_cell_scale`: hundreds of red cells,
whatever white cells the slide holds) times `WHITE_PER_RED`. An earlier estimate from the largest
inscribed radius of the nuclei read the lobes of a healthy slide's two neutrophils as nuclei and
halved the diameter; red cells have no lobes. The white cells found at that scale (lobes grouped,
`slides.whitecells`) are the cross-check: their nucleus extent in red-cell diameters is written
beside the estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leukoflow.slides.scale import WHITE_PER_RED

PLAUSIBLE = 1.3  # own estimate kept within this factor of its resolution's median


def estimate_cell_diameter(rgb: np.ndarray, nucleus_threshold: float = 0.12) -> dict:
    """The slide's red-cell ruler, the white-cell diameter it gives and the cross-check.

    Returns red_cell_px, red_cell_spread, red_cells, reliable, estimate_px (nan without a
    reliable ruler), white_cells (found at that scale) and nucleus_to_red (their median nucleus
    extent over the red-cell diameter; lymphoid nuclei read about 1, lobed ones 1.2-2).
    """
    from leukoflow.slides.scale import red_cell_scale
    from leukoflow.slides.whitecells import FinderSettings, find_white_cells

    scale = red_cell_scale(rgb, nucleus_threshold)
    row = {
        "red_cell_px": scale.diameter_px,
        "red_cell_spread": scale.spread,
        "red_cells": scale.red_cells,
        "reliable": scale.reliable,
        "estimate_px": round(WHITE_PER_RED * scale.diameter_px, 1) if scale.reliable else float("nan"),
        "white_cells": 0,
        "nucleus_to_red": float("nan"),
    }
    if np.isfinite(scale.diameter_px):
        cells = find_white_cells(rgb, scale.diameter_px, FinderSettings(nucleus_threshold=nucleus_threshold))
        row["white_cells"] = len(cells)
        if len(cells):
            row["nucleus_to_red"] = round(float(np.median(cells.nucleus_extent)) / scale.diameter_px, 3)
    return row


def settle_diameters(estimates: pd.DataFrame) -> pd.DataFrame:
    """Add `diameter_px` and `source` to per-slide `estimate_px` (and `width`, `height`): the own
    estimate where plausible, else the median of the plausible own estimates of the slides with
    the same resolution (one microscope, one magnification)."""
    table = estimates.copy()
    resolution = table["width"].astype(str) + "x" + table["height"].astype(str)
    own = table["estimate_px"].astype(float)
    median = own.groupby(resolution).transform("median")
    plausible = own.between(median / PLAUSIBLE, median * PLAUSIBLE)
    # The median of the plausible estimates only, so one wild slide does not move it.
    settled = own.where(plausible).groupby(resolution).transform("median")
    table["diameter_px"] = own.where(plausible, settled).round(1)
    table["source"] = np.where(plausible, "own red cells", "median of the " + resolution + " slides")
    if table["diameter_px"].isna().any():
        missing = table.loc[table["diameter_px"].isna(), "slide"].tolist()
        raise ValueError(f"no red-cell ruler found on any slide of the resolution of {missing}; set cell_diameter_px")
    return table


def working_scale(diameter: float, input_size: int, crop_cell_fraction: float) -> float:
    """Resize factor that brings a slide whose white cells are `diameter` px across to the scale
    the network was trained at: in ALL-IDB2 the cell is `crop_cell_fraction` of the crop wide,
    and the crop is resized to `input_size`."""
    if not diameter > 0:
        raise ValueError(f"white-cell diameter must be positive, got {diameter}")
    return crop_cell_fraction * input_size / diameter
