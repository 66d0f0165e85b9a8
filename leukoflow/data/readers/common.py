"""Machinery shared by the dataset readers: file discovery, problem handling, the manifest build.

A reader turns a dataset folder into `Candidate`s (one per image whose name, label and
annotation it could read) and reports everything else to a `Problems` collector. `build_manifest`
then checks ids are unique, decodes and hashes every candidate in a thread pool, and assembles the
manifest table of docs/design.md. Under `strict=True` the first problem raises a one-line
`DatasetError`; under `strict=False` problems become rows of the `rejected` table.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leukoflow.core.errors import DatasetError
from leukoflow.core.io import read_rgb, sha256_file

log = logging.getLogger("leukoflow.data.readers")

MANIFEST_COLUMNS = (
    "id",
    "path",
    "label",
    "class_name",
    "source_id",
    "split",
    "width",
    "height",
    "annotation",
    "n_annotations",
    "sha256",
)
REJECTED_COLUMNS = ("dataset", "path", "problem")

# Any file with one of these suffixes is an image as far as "never silently drop" is concerned:
# it either becomes a manifest row or a problem, whatever dataset is being read.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"})

UNLABELLED = "unlabelled test image"

_ALLIDB_STEM = re.compile(r"^(Im\d+)_(.*)$")


@dataclass(frozen=True)
class ScanResult:
    manifest: pd.DataFrame
    rejected: pd.DataFrame


@dataclass(frozen=True)
class Candidate:
    """An image whose name, label and annotation were read; it still has to decode."""

    id: str
    path: Path
    label: int
    class_name: str
    source_id: str
    split: str = ""
    annotation: Path | None = None
    n_annotations: int | None = None


class Problems:
    """Collects what is wrong with a dataset folder.

    `strict=True` raises the first problem as a DatasetError; otherwise each becomes a row of
    the rejected table. `reject` records files that are never training data (unlabelled test
    images) and so never stop a run, strict or not.
    """

    def __init__(self, dataset: str, strict: bool):
        self.dataset = dataset
        self.strict = strict
        self.rows: list[tuple[str, str, str]] = []

    def report(self, path: str | Path, problem: str) -> None:
        if self.strict:
            raise DatasetError(path, problem)
        log.debug("%s: rejected %s: %s", self.dataset, path, problem)
        self.rows.append((self.dataset, str(path), problem))

    def report_error(self, error: DatasetError) -> None:
        self.report(error.path, error.problem)

    def reject(self, path: str | Path, problem: str) -> None:
        self.rows.append((self.dataset, str(path), problem))

    def count(self, *, excluding: str | None = None) -> int:
        return sum(1 for row in self.rows if row[2] != excluding)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(REJECTED_COLUMNS))


def require_root(root: str | Path) -> Path:
    """Absolute path of the dataset root; raise naming it if it is missing or not a folder.

    Symlinks are kept (no resolve) so manifest paths stay under the folder the user named.
    """
    root = Path(os.path.abspath(Path(root).expanduser()))
    if not root.exists():
        raise DatasetError(root, "dataset root does not exist")
    if not root.is_dir():
        raise DatasetError(root, "dataset root is not a folder")
    return root


def list_files(root: Path) -> list[Path]:
    """Every file under `root`, sorted, following folder symlinks but not link cycles.

    Datasets are often assembled from symlinked folders, which os.walk skips by default.
    Broken symlinks are kept so that a dangling image link fails to decode loudly instead of
    disappearing.
    """
    seen: set[tuple[int, int]] = set()
    files: list[Path] = []
    for folder, subfolders, names in os.walk(root, followlinks=True):
        info = os.stat(folder)
        key = (info.st_dev, info.st_ino)
        if key in seen:
            subfolders[:] = []
            continue
        seen.add(key)
        base = Path(folder)
        files.extend(path for path in map(base.joinpath, names) if path.is_file() or path.is_symlink())
    return sorted(files)


def split_images(files: Iterable[Path], dataset: str) -> tuple[list[Path], list[Path]]:
    """Split files into image-suffix files and the rest; log the ignored count at debug level."""
    images, others = [], []
    for path in files:
        (images if path.suffix.lower() in IMAGE_SUFFIXES else others).append(path)
    if others:
        log.debug("%s: ignoring %d non-image files (README, .csv, .xyc, ...)", dataset, len(others))
    return images, others


def parse_allidb_name(path: Path, suffixes: Sequence[str], dataset_label: str) -> tuple[str, int]:
    """(`ImXXX_Y` id, label Y) from an ALL-IDB file name; raise DatasetError if it does not parse.

    The suffix is compared case-insensitively; the `Im` prefix and the label digit are not
    guessed at, since a renamed file cannot be trusted to carry its label.
    """
    expected = f"expected {dataset_label} name ImXXX_Y{suffixes[0]} (Y = 1 ALL, 0 healthy)"
    if path.suffix.lower() not in suffixes:
        raise DatasetError(path, f"unexpected image type {path.suffix!r}; {expected}")
    match = _ALLIDB_STEM.match(path.stem)
    if match is None:
        raise DatasetError(path, f"file name does not parse; {expected}")
    if match.group(2) not in ("0", "1"):
        raise DatasetError(path, f"label {match.group(2)!r} cannot be read; {expected}")
    return path.stem, int(match.group(2))


def drop_relabelled(candidates: list[Candidate], problems: Problems) -> list[Candidate]:
    """Report ALL-IDB images whose number occurs under two labels; keep the others.

    ALL-IDB numbers are unique across classes (ALL-IDB2: Im001-130 ALL, Im131-260 healthy), so
    `Im001_1.tif` beside `Im001_0.tif` is one cell labelled twice. Neither label can be trusted:
    a strict run stops naming both files, a lenient one rejects every copy.
    """
    by_number: dict[int, list[Candidate]] = {}
    for candidate in candidates:
        number = int(_ALLIDB_STEM.match(candidate.id).group(1)[2:])
        by_number.setdefault(number, []).append(candidate)
    kept = []
    for number, copies in by_number.items():
        if len({c.label for c in copies}) == 1:
            kept.extend(copies)
            continue
        copies = sorted(copies, key=lambda c: (-c.label, str(c.path)))
        for candidate in copies:
            elsewhere = ", ".join(f"{c.class_name} in {c.path}" for c in copies if c.label != candidate.label)
            problems.report(
                candidate.path,
                f"Im{number:03d} is labelled {candidate.class_name} here and {elsewhere}; ALL-IDB numbers are "
                "unique across classes, so this is one image labelled twice",
            )
    return kept


def _decode(candidate: Candidate, check: Callable[[Candidate, np.ndarray], None] | None):
    """Decode and hash one image. Returns (width, height, sha256) or the DatasetError."""
    try:
        rgb = read_rgb(candidate.path)
        if check is not None:
            check(candidate, rgb)
        try:
            digest = sha256_file(candidate.path)
        except OSError as exc:
            raise DatasetError(candidate.path, f"cannot read file ({exc})") from exc
    except DatasetError as error:
        return error
    return rgb.shape[1], rgb.shape[0], digest


def default_workers() -> int:
    # Pillow's decoders, tifffile's reads and hashlib all release the GIL for most of their
    # work, so threads overlap disk reads, decoding and hashing.
    return min(8, os.cpu_count() or 1)


def _drop_duplicate_ids(candidates: list[Candidate], problems: Problems) -> list[Candidate]:
    """Report every copy of an id that occurs more than once and keep none of them.

    Neither copy can be trusted to be the right one (a C-NMC cell in two folds would leak
    across folds), so in non-strict mode all copies are rejected.
    """
    by_id: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_id.setdefault(candidate.id, []).append(candidate)
    kept = []
    for copies in by_id.values():
        if len(copies) == 1:
            kept.append(copies[0])
            continue
        # Later copies first, so a strict run names the duplicate and points at the original.
        copies = sorted(copies, key=lambda c: str(c.path))
        for candidate in copies[1:] + copies[:1]:
            others = ", ".join(str(c.path) for c in copies if c is not candidate)
            problems.report(candidate.path, f"duplicate id {candidate.id!r} (also at {others})")
    return kept


def build_manifest(
    dataset: str,
    root: Path,
    candidates: list[Candidate],
    problems: Problems,
    *,
    check: Callable[[Candidate, np.ndarray], None] | None = None,
    workers: int | None = None,
) -> ScanResult:
    """Decode and hash every candidate and assemble the manifest (sorted by id).

    `check(candidate, rgb)` runs in the worker after decoding and raises DatasetError for a
    dataset-specific problem (a UKM mask of the wrong size). Raises DatasetError naming `root`
    when no image survives.
    """
    candidates = _drop_duplicate_ids(candidates, problems)
    candidates.sort(key=lambda c: str(c.path))
    rows = []
    pool = ThreadPoolExecutor(max_workers=workers or default_workers())
    try:
        for candidate, outcome in zip(candidates, pool.map(lambda c: _decode(c, check), candidates)):
            if isinstance(outcome, DatasetError):
                problems.report_error(outcome)
                continue
            width, height, digest = outcome
            rows.append(
                (
                    candidate.id,
                    str(candidate.path),
                    candidate.label,
                    candidate.class_name,
                    candidate.source_id,
                    candidate.split,
                    width,
                    height,
                    "" if candidate.annotation is None else str(candidate.annotation),
                    candidate.n_annotations,
                    digest,
                )
            )
    finally:
        # A strict failure must not wait for thousands of queued decodes.
        pool.shutdown(wait=True, cancel_futures=True)

    rejected = problems.frame()
    n_problems = problems.count(excluding=UNLABELLED)
    if not rows:
        detail = f" ({len(rejected)} files rejected)" if len(rejected) else ""
        raise DatasetError(root, f"no {dataset} images found{detail}")
    if n_problems:
        log.warning("%s: %d files rejected under strict=false (see the rejected table)", dataset, n_problems)
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    manifest = manifest.astype({"label": "int64", "width": "int64", "height": "int64", "n_annotations": "Int64"})
    manifest = manifest.sort_values("id", kind="stable").reset_index(drop=True)
    # Byte-identical files under two ids would sit on both sides of a split; real copies of
    # these datasets are not known to contain any, so this is a warning, not a problem.
    copies = manifest["id"][manifest["sha256"].duplicated(keep=False)]
    if len(copies):
        log.warning(
            "%s: %d images are byte-identical to another image: %s",
            dataset,
            len(copies),
            ", ".join(copies[:10]),
        )
    return ScanResult(manifest=manifest, rejected=rejected)
