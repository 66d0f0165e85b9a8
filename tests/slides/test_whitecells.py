"""White cells found from their nuclei: one per cell, lobes grouped, clumps split, sizes in
red-cell units; checked on planted smears and on real BCCD smears."""

import numpy as np
import pytest

from leukoflow.data.synthetic.slides import render_smear
from leukoflow.slides.whitecells import FinderSettings, find_white_cells
from tests import bccd


def planted(seed, blasts, size=(800, 600)):
    field, cells, red = render_smear(np.random.default_rng(seed), size[1], size[0], blasts)
    return field.rgb, cells, red


def matches(found, cells):
    truth = np.array([(c.x, c.y, c.radius) for c in cells])
    distance = np.hypot(found.centres[:, None, 0] - truth[None, :, 0], found.centres[:, None, 1] - truth[None, :, 1])
    return distance < truth[None, :, 2]


# 30: five touching blasts around a ring of cytoplasm; 28: two touching lymphocytes at a group's edge.
@pytest.mark.parametrize("seed, blasts", [(11, True), (13, True), (30, True), (29, False), (28, False)])
def test_planted_white_cells_are_found_once_each(seed, blasts):
    rgb, cells, red = planted(seed, blasts)
    found = find_white_cells(rgb, red)
    hit = matches(found, cells)
    assert hit.any(axis=0).mean() >= 0.8  # recall
    assert (hit.sum(axis=0) <= 1).all()  # no cell counted twice
    assert hit.any(axis=1).mean() >= 0.9  # precision


def test_lobed_neutrophils_are_one_cell_each():
    rgb, cells, red = planted(29, blasts=False)
    neutrophils = [c for c in cells if c.kind == "neutrophil"]
    assert neutrophils, "the planted smear should hold a neutrophil"
    found = find_white_cells(rgb, red)
    hit = matches(found, neutrophils)
    assert (hit.sum(axis=0) == 1).all()


def test_touching_round_nuclei_are_split():
    yy, xx = np.mgrid[0:300, 0:400]
    rgb = np.full((300, 400, 3), (200, 195, 190), np.uint8)
    for cx in (150, 232):  # two nuclei of 40 px radius, 82 px apart: touching
        rgb[(xx - cx) ** 2 + (yy - 150) ** 2 <= 40**2] = (80, 25, 120)
    found = find_white_cells(rgb, red_cell_px=80.0)
    assert len(found) == 2
    assert sorted(np.round(found.centres[:, 0] / 10)) == [15, 23]


def test_bad_scale_is_refused():
    with pytest.raises(ValueError):
        find_white_cells(np.zeros((10, 10, 3), np.uint8), 0.0)


def bccd_detections(settings: FinderSettings | None = None):
    """(detections per white-cell box, detections outside every box, detections) on 10 smears."""
    from leukoflow.slides.scale import red_cell_scale

    per_box, stray, total = [], 0, 0
    for name in bccd.names()[1:60:6]:
        rgb = bccd.image(name)
        found = find_white_cells(rgb, red_cell_scale(rgb).diameter_px, settings or FinderSettings())
        wbc = bccd.boxes(name, "WBC")
        inside = (
            (found.centres[:, None, 0] >= wbc[None, :, 0])
            & (found.centres[:, None, 0] <= wbc[None, :, 2])
            & (found.centres[:, None, 1] >= wbc[None, :, 1])
            & (found.centres[:, None, 1] <= wbc[None, :, 3])
        )
        per_box += list(inside.sum(axis=0))
        stray += int((~inside.any(axis=1)).sum())
        total += len(found)
    return np.array(per_box), stray, total


def test_real_smears_one_detection_per_white_cell():
    """BCCD: every white-cell box holds one detection (the lobes of real neutrophil nuclei, which
    the threshold breaks apart, grouped), few detections elsewhere."""
    bccd.require_bccd()
    per_box, stray, total = bccd_detections()
    assert (per_box >= 1).mean() >= 0.9
    assert per_box[per_box >= 1].mean() <= 1.15
    assert stray <= 0.15 * total


def test_real_lobes_would_be_counted_without_grouping():
    """The check above bites: a finder that takes each nucleus component as a cell fails it."""
    bccd.require_bccd()
    per_box, _, _ = bccd_detections(FinderSettings(group_gap=0.0, min_nucleus_area=0.02, split_radius=9.0))
    assert per_box[per_box >= 1].mean() > 1.15
