"""Contact sheets shown in the report's Datasets section: long titles and ids wrap, nothing is cut."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from leukoflow.data.summary import SHEET_COLUMN_IN, SHEET_MIN_WIDTH_IN, wrap_label, write_contact_sheet

DPI = 110  # write_contact_sheet's resolution
LONG_TITLE = "UKM-WBC (white cells with nucleus masks) [SYNTHETIC] and a subtitle long enough to wrap twice"


def test_wrap_label_breaks_after_slashes_and_keeps_every_character():
    text = "segmented/lymphoblast/lymphoblast_0001_with_a_suffix_far_longer_than_one_line"
    wrapped = wrap_label(text, width_in=1.5, fontsize=6)
    chars = int(1.5 * 72 / (0.6 * 6))
    lines = wrapped.split("\n")
    assert len(lines) > 1 and all(len(line) <= chars for line in lines)
    assert "".join(lines) == text  # no character lost, no space added
    assert lines[0].endswith("/")  # the break falls after a path separator when one fits
    assert wrap_label("short", 1.5, 6) == "short"


def sheet(tmp_path, ids, title, per_class) -> np.ndarray:
    rows = []
    for i, image_id in enumerate(ids):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (40, 30), (150, 60 + 20 * i, 160)).save(path)
        rows.append({"id": image_id, "path": str(path), "class_name": "ALL" if i % 2 else "healthy"})
    out = tmp_path / "sheet.png"
    write_contact_sheet(pd.DataFrame(rows), str(out), title, per_class=per_class, thumb_px=32, seed=0)
    return np.asarray(Image.open(out).convert("L"))


def test_long_title_and_ids_fit_inside_the_sheet(tmp_path):
    ids = [
        f"a_long_folder_name/{c}/{c}_{i:04d}_and_a_long_suffix_without_any_break"
        for i, c in enumerate(["lymphoblast", "neutrophil", "lymphoblast", "neutrophil"])
    ]
    pixels = sheet(tmp_path, ids, LONG_TITLE, per_class=2)
    height, width = pixels.shape
    assert width == round(max(SHEET_MIN_WIDTH_IN, 2 * SHEET_COLUMN_IN) * DPI)
    # The title is drawn on the top rows; if it were cut, its glyphs would touch the left or right edge.
    inked_rows = np.flatnonzero((pixels < 200).any(axis=1))
    title_band = pixels[: inked_rows[0] + 40]
    assert (title_band[:, :3] > 240).all() and (title_band[:, -3:] > 240).all()
    assert (pixels[:, :2] > 240).all() and (pixels[:, -2:] > 240).all()  # ids wrap rather than overflow


def test_a_class_with_fewer_images_than_asked_leaves_no_empty_columns(tmp_path):
    pixels = sheet(tmp_path, ["a", "b"], "short", per_class=8)
    assert pixels.shape[1] == round(SHEET_MIN_WIDTH_IN * DPI)  # one image per class: minimum width, not 8 columns
