"""The BCCD smears (real normal blood, another microscope; ../shared/data/bccd): loading, boxes,
and a skip with a message where the folder is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO

BCCD = REPO.parent / "shared" / "data" / "bccd"


def require_bccd() -> Path:
    if not (BCCD / "images.txt").is_file():
        pytest.skip(f"the BCCD smears are not at {BCCD} (real-image checks skipped)")
    return BCCD


def names(root: Path = BCCD) -> list[str]:
    return (root / "images.txt").read_text().split()


def image(name: str, root: Path = BCCD) -> np.ndarray:
    from leukoflow.core.io import read_rgb

    return read_rgb(root / "JPEGImages" / f"{name}.jpg")


def boxes(name: str, kind: str, root: Path = BCCD) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 of the `kind` boxes (WBC, RBC, Platelets) of one image."""
    from leukoflow.data.readers.voc import box_array, read_voc_boxes

    return box_array(read_voc_boxes(root / "Annotations" / f"{name}.xml", kind))


def red_cell_box_side(name: str, width: int = 640, height: int = 480, root: Path = BCCD) -> float:
    """Median side of the red-cell boxes wholly inside the image (nan when there is none)."""
    red = boxes(name, "RBC", root)
    inside = (red[:, 0] > 2) & (red[:, 1] > 2) & (red[:, 2] < width - 3) & (red[:, 3] < height - 3)
    red = red[inside]
    if not len(red):
        return float("nan")
    return float(np.median(((red[:, 2] - red[:, 0]) + (red[:, 3] - red[:, 1])) / 2))
