"""The convex-hull crop keeps the whole cell and centres it; crops go to one tensor file."""

import numpy as np
import pandas as pd
import pytest
import torch

from leukoflow.cnmc.crop import (
    CropSettings,
    cell_box,
    cell_hull,
    check_subject_folds,
    crop_cell,
    read_crops,
    unlabelled_paths,
    write_crops,
)
from leukoflow.core.errors import DatasetError

NUCLEUS = (95, 40, 140)  # dark purple, darker than the cytoplasm in grey
CYTOPLASM = (175, 170, 205)  # pale lilac


def synthetic_cell(frame=(200, 240), centre=(150, 70), radius=36, nucleus_offset=(14, 0)):
    """A cell on black: a pale disc with a dark nucleus reaching its edge (centre is (x, y))."""
    height, width = frame
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    body = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2
    nx, ny = centre[0] + nucleus_offset[0], centre[1] + nucleus_offset[1]
    nucleus = body & ((xx - nx) ** 2 + (yy - ny) ** 2 <= (0.75 * radius) ** 2)
    rgb[body] = CYTOPLASM
    rgb[nucleus] = NUCLEUS
    return rgb, body


@pytest.mark.parametrize("threshold", ["background", "otsu"])
def test_crop_keeps_the_whole_cell_and_centres_it(threshold):
    rgb, body = synthetic_cell(nucleus_offset=(0, 0))
    settings = CropSettings(size=64, erosion_fraction=0.01, margin=0.05, threshold=threshold)
    crop, box = crop_cell(rgb, settings)
    rows, cols = np.flatnonzero(body.any(axis=1)), np.flatnonzero(body.any(axis=0))
    # the whole cell lies inside the box ...
    assert box.top <= rows[0] and rows[-1] < box.top + box.side
    assert box.left <= cols[0] and cols[-1] < box.left + box.side
    # ... centred on it (within a pixel) and filling it but for the margin
    assert abs(box.top + box.side / 2 - (rows[0] + rows[-1] + 1) / 2) <= 1
    assert abs(box.left + box.side / 2 - (cols[0] + cols[-1] + 1) / 2) <= 1
    assert 73 * 1.05 <= box.side <= 73 * 1.2
    assert crop.shape == (3, 64, 64) and crop.dtype == torch.uint8
    cell = crop.amax(dim=0) > 0
    ys, xs = torch.nonzero(cell, as_tuple=True)
    assert abs(ys.float().mean() - 31.5) < 1.5 and abs(xs.float().mean() - 31.5) < 1.5
    assert not cell[0].any() and not cell[-1].any() and not cell[:, 0].any() and not cell[:, -1].any()


def test_nucleus_at_the_cell_edge_stays_in_the_crop():
    """One Otsu threshold falls between nucleus and cytoplasm; the default rule keeps the nucleus."""
    rgb, body = synthetic_cell(nucleus_offset=(14, 0))
    hull, top, left = cell_hull(rgb, erosion_radius=2)
    box = cell_box(hull, top, left, erosion_radius=2, margin=0.0)
    cols = np.flatnonzero(body.any(axis=0))
    assert box.left <= cols[0] and cols[-1] < box.left + box.side


def test_cell_over_the_frame_edge_is_padded_black():
    rgb, _ = synthetic_cell(centre=(20, 70))
    crop, box = crop_cell(rgb, CropSettings(size=48, erosion_fraction=0.0, margin=0.05))
    assert box.left < 0
    assert (crop[:, :, :3] == 0).all()  # the columns left of the frame are black


def test_blank_frame_names_the_problem():
    with pytest.raises(ValueError, match="blank"):
        crop_cell(np.zeros((50, 50, 3), dtype=np.uint8), CropSettings(size=32))


def test_hull_matches_plain_scikit_image():
    """The fast path (scipy erosion, hull in the region's box) gives scikit-image's full-frame hull."""
    from skimage.filters import threshold_multiotsu
    from skimage.measure import label
    from skimage.morphology import convex_hull_image, disk, erosion

    rgb, _ = synthetic_cell(nucleus_offset=(14, 5))
    rgb[10:14, 10:13] = CYTOPLASM  # a speck: not the largest region, so not in the hull
    gray = rgb.astype(np.float32) @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
    regions = label(erosion(gray > threshold_multiotsu(gray, classes=3)[0], disk(2)), connectivity=2)
    largest = np.bincount(regions.ravel())[1:].argmax() + 1
    expected = convex_hull_image(regions == largest)
    hull, top, left = cell_hull(rgb, erosion_radius=2)
    full = np.zeros_like(expected)
    full[top : top + hull.shape[0], left : left + hull.shape[1]] = hull
    assert (full == expected).all() and not full[10:14, 10:13].any()


def test_crop_file_round_trip(tmp_path):
    images = torch.randint(0, 255, (3, 3, 8, 8), dtype=torch.uint8)
    table = pd.DataFrame({"id": ["a", "b", "c"], "label": [1, 0, 1]})
    write_crops(tmp_path / "cells.pt", images, table)
    payload = read_crops(tmp_path / "cells.pt")
    assert payload["ids"] == ["a", "b", "c"] and torch.equal(payload["images"], images)
    assert payload["labels"].tolist() == [1, 0, 1]
    (tmp_path / "bad.pt").write_text("no")
    with pytest.raises(DatasetError) as info:
        read_crops(tmp_path / "bad.pt")
    assert info.value.path == str(tmp_path / "bad.pt")


def manifest(rows):
    return pd.DataFrame(rows, columns=["id", "path", "source_id", "split"])


def test_subject_in_two_folds_stops_with_the_file_named(caplog):
    table = manifest(
        [
            ("UID_3_1_1_all", "/d/fold_0/all/UID_3_1_1_all.bmp", "3", "fold_0"),
            ("UID_3_2_1_all", "/d/fold_1/all/UID_3_2_1_all.bmp", "3", "fold_1"),
            ("UID_4_1_1_all", "/d/fold_1/all/UID_4_1_1_all.bmp", "4", "fold_1"),
        ]
    )
    with pytest.raises(DatasetError) as info:
        check_subject_folds(table, strict=True)
    assert info.value.path == "/d/fold_1/all/UID_3_2_1_all.bmp"
    assert "subject '3' has cells in fold_0, fold_1" in info.value.problem
    check_subject_folds(table, strict=False)  # lenient: a warning only
    assert "fold_0, fold_1" in caplog.text
    check_subject_folds(table.iloc[[0, 2]], strict=True)  # whole subjects pass


def test_unlabelled_images_come_from_the_rejected_list():
    rejected = pd.DataFrame(
        {
            "dataset": ["cnmc"] * 3,
            "path": ["/t/2.bmp", "/t/1.bmp", "/d/x.png"],
            "problem": ["unlabelled test image", "unlabelled test image", "not a C-NMC image"],
        }
    )
    assert unlabelled_paths(rejected) == ["/t/1.bmp", "/t/2.bmp"]
    assert unlabelled_paths(rejected.iloc[:0]) == []
