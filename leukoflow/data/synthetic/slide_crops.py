"""ALL-IDB2 crops cut from synthetic ALL-IDB1 slides, with their planted provenance.

The real ALL-IDB2 crops are pieces of the ALL-IDB1 slides, each centred on one white cell. Where
both datasets are synthetic, part of each class's crops is cut the same way from the slides the
ALL-IDB1 writer wrote: an ALL crop centres a blast, a healthy crop a lymphocyte or neutrophil (never
a smudge cell), so a crop's label always agrees with the cell it centres. The cells come from the
ALL-IDB1 truth; a cell whose window would leave the slide is not used.

The slides on disk are JPEGs while the real crops are uncompressed TIFFs cut, presumably, before
that compression: a real crop matches its slide region closely but not exactly. Cut crops
therefore get a little Gaussian noise (CROP_NOISE_SIGMA grey levels), so the provenance search
meets scores just under 1, as on real data, rather than exact copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from leukoflow.core.errors import DatasetError
from leukoflow.core.io import read_rgb, read_tsv

CROP_KINDS = {1: ("lymphoblast",), 0: ("lymphocyte", "neutrophil")}  # label -> kinds a crop may centre
CROP_NOISE_SIGMA = 2.0
CENTRE_JITTER = 0.015  # of the crop size, as for rendered crops (field.render_crop)


@dataclass(frozen=True)
class SlideCell:
    """One white cell of a synthetic slide that an ALL-IDB2 crop will centre."""

    slide: str
    x: float
    y: float
    kind: str


@dataclass(frozen=True)
class CutCrop:
    rgb: np.ndarray  # (size, size, 3) uint8
    slide: str
    left: int  # top-left corner of the crop in the slide, pixels
    top: int
    kind: str


def slide_cells(slides_dir: str | Path) -> tuple[pd.DataFrame, dict[str, Path], dict[str, tuple[int, int]]]:
    """The white cells of a synthetic ALL-IDB1 (`<slides_dir>/truth.tsv`), the slide files under
    `<slides_dir>/data` by id, and each slide's (width, height) read from the file header.

    Raises
    ------
    DatasetError
        When the truth file is missing or lacks columns, or a slide it names has no image.
    """
    slides_dir = Path(slides_dir)
    truth_path = slides_dir / "truth.tsv"
    if not truth_path.is_file():
        raise DatasetError(truth_path, "no ALL-IDB1 truth to cut ALL-IDB2 crops from (is it a synthetic ALL-IDB1?)")
    cells = read_tsv(truth_path, text_columns=("image_id",))
    missing = [c for c in ("image_id", "x", "y", "kind") if c not in cells.columns]
    if missing:
        raise DatasetError(truth_path, f"missing columns {missing}")
    paths = {path.stem: path for path in sorted((slides_dir / "data").rglob("*.jpg"))}
    absent = sorted(set(cells["image_id"]) - set(paths))
    if absent:
        raise DatasetError(slides_dir / "data", f"no slide image for {absent[:5]} named in {truth_path}")
    sizes = {}
    for slide in sorted(set(cells["image_id"])):
        with Image.open(paths[slide]) as image:
            sizes[slide] = image.size
    return cells, paths, sizes


def plan_slide_crops(
    cells: pd.DataFrame,
    sizes: Mapping[str, tuple[int, int]],
    numbers: Mapping[int, Sequence[int]],
    share: float,
    size: int,
    rng: np.random.Generator,
) -> dict[int, SlideCell]:
    """Which crop numbers are cut from a slide, and around which cell.

    numbers: label -> the crop numbers of that class. Per class, round(share x count) crops (at
    most as many as there are usable cells) are spread at random over the class's numbers, each
    given a distinct cell drawn at random. The result depends on the cells, the counts and `rng`.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must lie in [0, 1], got {share}")
    margin = size / 2.0 + CENTRE_JITTER * size + 1.0
    width = cells["image_id"].map(lambda slide: sizes[slide][0])
    height = cells["image_id"].map(lambda slide: sizes[slide][1])
    inside = cells["x"].between(margin, width - margin) & cells["y"].between(margin, height - margin)
    planned = {}
    for label in sorted(numbers, reverse=True):  # ALL first: a fixed order for the random draws
        usable = cells[inside & cells["kind"].isin(CROP_KINDS[label])].sort_values(["image_id", "y", "x"])
        usable = usable.iloc[rng.permutation(len(usable))]
        class_numbers = np.asarray(list(numbers[label]), dtype=np.int64)
        wanted = min(int(round(share * len(class_numbers))), len(usable))
        chosen = np.sort(rng.choice(class_numbers, size=wanted, replace=False)) if wanted else []
        for number, cell in zip(chosen, usable.itertuples()):
            planned[int(number)] = SlideCell(str(cell.image_id), float(cell.x), float(cell.y), str(cell.kind))
    return planned


def cut_planned_crops(
    planned: Mapping[int, SlideCell],
    slide_paths: Mapping[str, Path],
    rngs: Mapping[int, np.random.Generator],
    size: int,
) -> dict[int, CutCrop]:
    """Cut every planned crop: each slide decoded once, one crop per planned cell.

    Each crop draws its centre jitter and its noise from its own generator `rngs[number]`.
    """
    crops = {}
    by_slide: dict[str, list[int]] = {}
    for number, cell in sorted(planned.items()):
        by_slide.setdefault(cell.slide, []).append(number)
    for slide, members in sorted(by_slide.items()):
        rgb = read_rgb(slide_paths[slide])
        height, width = rgb.shape[:2]
        for number in members:
            cell, rng = planned[number], rngs[number]
            jitter = rng.uniform(-CENTRE_JITTER, CENTRE_JITTER, 2) * size
            left = int(np.clip(round(cell.x - size / 2.0 + jitter[0]), 0, width - size))
            top = int(np.clip(round(cell.y - size / 2.0 + jitter[1]), 0, height - size))
            window = rgb[top : top + size, left : left + size].astype(np.float32)
            noisy = window + rng.normal(0.0, CROP_NOISE_SIGMA, window.shape).astype(np.float32)
            crops[number] = CutCrop(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), slide, left, top, cell.kind)
    return crops
