"""ALL-IDB1 reader: whole-slide JPEGs `ImXXX_Y.jpg` with blast centroids in `ImXXX_Y.xyc`.

Y = 1 marks an ALL slide, Y = 0 a healthy one. Images are found anywhere under the root (the
distributed `im/` + `xyc/` folders, or images and `.xyc` files side by side) and each is
matched to the `.xyc` with the same stem anywhere under the root. No resolution is assumed:
real slides are 1712x1368 or 2592x1944.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from leukoflow.core.errors import DatasetError
from leukoflow.data.datasets import DATASETS
from leukoflow.data.readers.common import (
    Candidate,
    Problems,
    ScanResult,
    build_manifest,
    drop_relabelled,
    list_files,
    parse_allidb_name,
    require_root,
    split_images,
)

log = logging.getLogger("leukoflow.data.readers")

DATASET = "allidb1"
IMAGE_SUFFIXES = (".jpg", ".jpeg")
CLASS_NAMES = dict(enumerate(DATASETS["allidb1"].classes))


def read_xyc(path: str | Path) -> np.ndarray:
    """Blast centroids of one `.xyc` file as an (N, 2) float array of (x, y) pixel coordinates.

    One `x y` pair per line separated by any whitespace; CRLF, a missing trailing newline,
    blank lines and an empty file are fine. A line that is not two finite numbers raises
    DatasetError naming the file and the line number.
    """
    return read_xyc_lines(path)[0]


def read_xyc_lines(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """`read_xyc`'s centroids and, for each, its 1-based line number in the file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DatasetError(path, f"cannot read centroid file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"centroid file is not text ({exc})") from exc
    points, line_numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DatasetError(path, f"line {number}: expected 'x y', got {line.strip()!r}")
        try:
            x, y = float(fields[0]), float(fields[1])
        except ValueError:
            raise DatasetError(path, f"line {number}: coordinates are not numbers: {line.strip()!r}") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise DatasetError(path, f"line {number}: coordinates are not finite: {line.strip()!r}")
        points.append((x, y))
        line_numbers.append(number)
    return np.array(points, dtype=float).reshape(-1, 2), np.array(line_numbers, dtype=np.int64)


def _centroid_files(files: list[Path]) -> dict[str, list[Path]]:
    by_stem: dict[str, list[Path]] = {}
    for path in files:
        if path.suffix.lower() == ".xyc":
            by_stem.setdefault(path.stem, []).append(path)
    return by_stem


def scan(root: str | Path, strict: bool = True, workers: int | None = None) -> ScanResult:
    root = require_root(root)
    images, others = split_images(list_files(root), DATASET)
    xyc_by_stem = _centroid_files(others)
    problems = Problems(DATASET, strict)
    candidates = []
    centroids: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # id -> (points, line numbers)
    for path in images:
        try:
            image_id, label = parse_allidb_name(path, IMAGE_SUFFIXES, "ALL-IDB1")
        except DatasetError as error:
            problems.report_error(error)
            continue
        matches = xyc_by_stem.get(path.stem, [])
        if not matches:
            problems.report(path, f"no centroid file {path.stem}.xyc found under {root}")
            continue
        if len(matches) > 1:
            problems.report(path, f"several centroid files: {', '.join(map(str, matches))}")
            continue
        try:
            points, line_numbers = read_xyc_lines(matches[0])
        except DatasetError as error:
            problems.report(path, f"malformed centroid file {error.path}: {error.problem}")
            continue
        # Possible in real data (a missed or a stray annotation), so a warning, not a problem.
        if label == 0 and len(points):
            log.warning("%s: healthy slide has %d blast centroids in %s", path, len(points), matches[0])
        if label == 1 and not len(points):
            log.warning("%s: ALL slide has no blast centroids in %s", path, matches[0])
        centroids[image_id] = (points, line_numbers)
        candidates.append(
            Candidate(
                id=image_id,
                path=path,
                label=label,
                class_name=CLASS_NAMES[label],
                source_id=image_id,
                annotation=matches[0],
                n_annotations=len(points),
            )
        )
    orphans = sorted(set(xyc_by_stem) - {p.stem for p in images})
    if orphans:
        log.warning("%s: %d centroid files have no image (%s)", DATASET, len(orphans), ", ".join(orphans[:5]))

    def centroids_inside(candidate: Candidate, rgb: np.ndarray) -> None:
        # A centroid off the slide is a wrong annotation (often a .xyc of the slide's copy at the
        # other resolution): under strict the run stops naming the file and line, otherwise the
        # slide is rejected. x == width or y == height is kept: the annotators' border convention
        # (0- or 1-based) is unknown.
        points, line_numbers = centroids[candidate.id]
        height, width = rgb.shape[:2]
        outside = (points[:, 0] < 0) | (points[:, 0] > width) | (points[:, 1] < 0) | (points[:, 1] > height)
        if outside.any():
            first = int(np.flatnonzero(outside)[0])
            x, y = points[first]
            raise DatasetError(
                candidate.path,
                f"centroid file {candidate.annotation}, line {line_numbers[first]}: centroid ({x:g}, {y:g}) "
                f"lies outside the {width}x{height} image ({int(outside.sum())} of {len(points)} centroids outside)",
            )

    candidates = drop_relabelled(candidates, problems)
    return build_manifest(DATASET, root, candidates, problems, check=centroids_inside, workers=workers)
