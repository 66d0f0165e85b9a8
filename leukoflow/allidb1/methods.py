"""The two slide methods that run side by side: the paper's as published, and our improved one.

`as_published` follows Ghosh, Singh & Sheet (2017, III-B/C) as written: one network (a chosen
fold's model) makes the heatmap (mean over all filters of the last conv layer, scaled to [0, 1]
per slide, hard-thresholded) and scores the patches; the eosin channel of HED is thresholded;
the cost is the distance to background along x plus along y; a pixel is a centroid iff it is the
maximum of its 3x3 neighbourhood (one centroid per plateau); a 257x257 patch per centroid; a
slide is positive with at least one abnormal patch.

`improved` is the workflow's default reading. Each deviation from the above is one switch of
`allidb1.slides.improved` in the config, listed with what it changes in `DEVIATIONS` (the report
and docs/allidb1.md print these lines); `as_published` is the improved method with every switch
at its paper value. Sizes of the improved method are in white-cell diameters of the slide
(`allidb1.cellsize`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

METHODS = ("as_published", "improved")
METHOD_TITLES = {"as_published": "As published", "improved": "Improved"}

PAPER_VALUES = {
    "heatmap_polarity": "keep",
    "heat_otsu": False,
    "fold_ensemble": False,
    "cell_scale": False,
    "patch_cells": None,
    "segment_cell_px": None,
    "opening_cells": 0.0,
    "closing_cells": 0.0,
    "max_hole_cells": 0.0,
    "min_area_cells": 0.0,
    "centroid_cost": "axis_sum",
    "centroid_rule": "literal_3x3",
    "min_prominence": 1.0,
    "merge_cells": 0.0,
}
"""The improved method's switches at the values that make it the paper's method."""

DEVIATIONS = {
    "heatmap_polarity": "calibrate: a slide's heatmap is inverted when it is lower on the eosin-positive (stained) "
    "pixels than on the rest (their AUC below 0.5); the paper thresholds the high side always.",
    "heat_otsu": "the heatmap is thresholded at Otsu's value of the slide's own heatmap, not at a fixed "
    "`heat_threshold`: after scaling to [0, 1] by its extremes, one bright clump would otherwise push every other "
    "cell below a fixed cut.",
    "fold_ensemble": "patches are scored by the mean P(ALL) of every trained fold's model, not by one model.",
    "cell_scale": "each slide is resized so that its white cells (diameter from its red cells) have the "
    "size they had in the training crops; the paper feeds every slide at one fixed scale.",
    "patch_cells": "the patch around a centroid spans this many white-cell diameters (the framing of the "
    "ALL-IDB2 crops), not a fixed 257x257 pixels.",
    "segment_cell_px": "masks and centroids are computed on every k-th pixel, k bringing a white cell to about "
    "this many pixels (every size is in cell units): a quarter of the pixels of a 2592x1944 slide.",
    "opening_cells": "a binary opening (disk of this radius, in cell diameters) removes thin bridges and specks "
    "from the heat-and-eosin mask; the paper does no clean-up.",
    "closing_cells": "a binary closing (disk of this radius) rejoins the fragments of one nucleus that the eosin "
    "threshold breaks apart.",
    "max_hole_cells": "holes up to this share of a cell's area (pale nucleoli) are filled, so they put no false "
    "peaks into the cost map; the larger gap inside a ring of touching cells stays open.",
    "min_area_cells": "mask components smaller than this share of a cell's area (platelets, debris) are dropped.",
    "centroid_cost": "the cost is the Euclidean distance to the background; the paper's x-plus-y distance pulls "
    "the peak of a cell towards a touching neighbour.",
    "centroid_rule": "centroids are regional maxima of the cost (at least `min_prominence` above the saddle to a "
    "higher one), not every pixel that is the maximum of its 3x3 neighbourhood, which fires along the ridges "
    "of touching cells.",
    "merge_cells": "centroids closer than this many cell diameters are merged (the higher kept).",
}


STEP_KEYS = {
    "heatmap": ("cell_scale", "crop_cell_fraction"),
    "segment": (
        "eosin_threshold",
        "heatmap_polarity",
        "heat_threshold",
        "heat_otsu",
        "centroid_cost",
        "centroid_rule",
        "min_prominence",
        "segment_cell_px",
        "opening_cells",
        "closing_cells",
        "max_hole_cells",
        "min_area_cells",
        "merge_cells",
    ),
    "classify": ("abnormal_threshold", "patch_size", "patch_cells"),
    "table2": ("k", "match_radius_cells", "overlap"),
}
"""The settings each slide rule reads (its params hold these only; `tests/allidb1/test_methods.py`)."""
CNN_KEYS = {"heatmap": ("frame", "input_size"), "classify": ("input_size",)}


def step_settings(slides: Mapping, method: str, step: str) -> dict:
    """The keys of `STEP_KEYS[step]` of one method's settings, sorted."""
    settings = method_settings(slides, method)
    return {key: settings[key] for key in sorted(STEP_KEYS[step])}


def method_settings(slides: Mapping, method: str) -> dict:
    """The settings one slide method runs with: the shared `allidb1.slides` values plus the
    improved switches (`slides["improved"]`), or their paper values for `as_published`."""
    if method not in METHODS:
        raise ValueError(f"unknown slide method {method!r}; expected one of {METHODS}")
    switches = PAPER_VALUES if method == "as_published" else {**PAPER_VALUES, **slides.get("improved", {})}
    shared = {key: value for key, value in slides.items() if key != "improved"}
    return {**shared, **switches, "method": method}


def pixel_sizes(settings: Mapping, diameter: float) -> dict:
    """The method's clean-up sizes in pixels of a slide whose white cells are `diameter` px across."""
    cell_area = math.pi * (diameter / 2) ** 2
    return {
        "opening_radius": int(round(settings["opening_cells"] * diameter)),
        "closing_radius": int(round(settings["closing_cells"] * diameter)),
        "max_hole_area": int(round(settings["max_hole_cells"] * cell_area)),
        "min_area": int(round(settings["min_area_cells"] * cell_area)),
        "min_distance": settings["merge_cells"] * diameter,
    }


def patch_side(settings: Mapping, diameter: float) -> int:
    """The side of the patch around a centroid: `patch_size` px (the paper's 257), or with
    `patch_cells` that many white-cell diameters."""
    if settings["patch_cells"] is None:
        return int(settings["patch_size"])
    return max(8, int(round(settings["patch_cells"] * diameter)))
