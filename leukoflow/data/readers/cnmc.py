"""C-NMC 2019 reader: training folds and the labelled preliminary test set.

Training cells live in `fold_<k>/{all,hem}/UID_<subject>_<image>_<cell>_{all,hem}.bmp`; healthy
(HEM) subjects carry an H prefix (`UID_H6_1_1_hem.bmp`). The class folder, the name suffix and
the H prefix must agree. Preliminary-test cells are renamed `N.bmp` and sit in a folder
`C-NMC_test_prelim_phase_data` beside `C-NMC_test_prelim_phase_data_labels.csv`
(`Patient_ID,new_names,labels`; Patient_ID is the original UID name, so the subject is
recovered from it; label 1 = ALL).

Folders are searched, not addressed by depth, so both the flat layout (`root/fold_0/...`, CSV in
the root) and the distributed one (`root/C-NMC_Leukemia/training_data/fold_*/...`,
`.../validation_data/` holding the prelim folder and CSV) work. Numbered BMPs with no labels
CSV (the final-phase test set) are not training data: each is listed in `rejected` as an
"unlabelled test image", even in strict mode.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from leukoflow.core.errors import DatasetError
from leukoflow.data.datasets import DATASETS
from leukoflow.data.readers.common import (
    UNLABELLED,
    Candidate,
    Problems,
    ScanResult,
    build_manifest,
    list_files,
    require_root,
    split_images,
)

log = logging.getLogger("leukoflow.data.readers")

DATASET = "cnmc"
CLASS_NAMES = dict(enumerate(DATASETS["cnmc"].classes))
SUFFIX_LABELS = {"all": 1, "hem": 0}
PRELIM_LABELS_CSV = "c-nmc_test_prelim_phase_data_labels.csv"  # compared lower-case
PRELIM_SPLIT = "prelim_test"
PRELIM_COLUMNS = ("Patient_ID", "new_names", "labels")

_UID_NAME = re.compile(r"^UID_(H?\d+)_(\d+)_(\d+)_([A-Za-z]+)$")
_FOLD = re.compile(r"^fold_(\d+)$", re.IGNORECASE)
_NUMBER = re.compile(r"^\d+$")
_EXPECTED_UID = "UID_<subject>_<image>_<cell>_{all,hem}.bmp"


@dataclass(frozen=True)
class UidName:
    subject: str
    label: int  # from the name suffix


def parse_uid_name(name: str) -> UidName:
    """Subject and suffix label of a C-NMC training name (with or without `.bmp`).

    Raises ValueError saying what does not parse.
    """
    stem = name[:-4] if name.lower().endswith(".bmp") else name
    match = _UID_NAME.match(stem)
    if match is None or match.group(4).lower() not in SUFFIX_LABELS:
        raise ValueError(f"{name!r} does not parse as {_EXPECTED_UID}")
    return UidName(subject=match.group(1), label=SUFFIX_LABELS[match.group(4).lower()])


def label_disagreement(name: UidName, label: int, label_source: str) -> str | None:
    """Why `label` (from `label_source`) contradicts the name's suffix or H prefix, if it does."""
    prefix_label = 0 if name.subject.startswith("H") else 1
    if name.label == label == prefix_label:
        return None
    return (
        f"{label_source} says {CLASS_NAMES[label]}, name suffix says {CLASS_NAMES[name.label]}, "
        f"subject {name.subject!r} says {CLASS_NAMES[prefix_label]} (H prefix = healthy)"
    )


def _training_split(path: Path) -> tuple[str, int] | None:
    """(`fold_<k>`, folder label) if the file sits in `fold_<k>/{all,hem}/`, else None."""
    class_folder = path.parent.name.lower()
    fold = _FOLD.match(path.parent.parent.name)
    if class_folder not in SUFFIX_LABELS or fold is None:
        return None
    return f"fold_{int(fold.group(1))}", SUFFIX_LABELS[class_folder]


def _training_candidate(path: Path, split: str, folder_label: int) -> Candidate:
    if path.suffix.lower() != ".bmp":
        raise DatasetError(path, f"unexpected image type {path.suffix!r}; expected {_EXPECTED_UID}")
    try:
        name = parse_uid_name(path.name)
    except ValueError as exc:
        raise DatasetError(path, f"file name {exc}") from None
    disagreement = label_disagreement(name, folder_label, f"class folder {path.parent.name!r}")
    if disagreement:
        raise DatasetError(path, f"labels disagree: {disagreement}")
    return Candidate(
        id=path.stem,
        path=path,
        label=folder_label,
        class_name=CLASS_NAMES[folder_label],
        source_id=name.subject,
        split=split,
    )


def _prelim_folder(csv: Path) -> Path | None:
    """The image folder named like the CSV without `_labels`: beside it, or holding it."""
    folder_name = csv.name[: -len("_labels.csv")].lower()
    if csv.parent.name.lower() == folder_name:
        return csv.parent
    for sibling in sorted(csv.parent.iterdir()):
        if sibling.is_dir() and sibling.name.lower() == folder_name:
            return sibling
    return None


def _read_label_rows(csv: Path, problems: Problems) -> dict[int, list[tuple[int, str, str]]] | None:
    """Rows of a prelim labels CSV grouped by image number: N -> [(line, Patient_ID, label)].

    Returns None (after reporting) when the CSV cannot be used at all.
    """
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        problems.report(csv, f"labels file cannot be read ({type(exc).__name__}: {exc})")
        return None
    table.columns = [str(column).strip() for column in table.columns]
    missing = [column for column in PRELIM_COLUMNS if column not in table.columns]
    if missing:
        problems.report(csv, f"labels file lacks columns {missing} (has {list(table.columns)})")
        return None
    rows: dict[int, list[tuple[int, str, str]]] = {}
    for line, patient_id, new_name, label in zip(
        range(2, len(table) + 2), table["Patient_ID"], table["new_names"], table["labels"]
    ):
        number = new_name.strip()
        number = number[:-4] if number.lower().endswith(".bmp") else number
        if not _NUMBER.match(number):
            problems.report(csv, f"line {line}: new_names {new_name!r} is not N.bmp")
            continue
        rows.setdefault(int(number), []).append((line, patient_id.strip(), label.strip()))
    return rows


def _prelim_candidate(path: Path, csv: Path, rows: list[tuple[int, str, str]] | None) -> Candidate:
    if path.suffix.lower() != ".bmp" or not _NUMBER.match(path.stem):
        raise DatasetError(path, "file name does not parse; expected a numbered test image N.bmp")
    if not rows:
        raise DatasetError(path, f"not listed in labels file {csv}")
    if len(rows) > 1:
        lines = ", ".join(str(row[0]) for row in rows)
        raise DatasetError(path, f"listed {len(rows)} times in labels file {csv} (lines {lines})")
    line, patient_id, label_text = rows[0]
    where = f"labels file {csv} line {line}"
    if label_text not in ("0", "1"):
        raise DatasetError(path, f"{where}: label {label_text!r} is not 0 or 1")
    try:
        name = parse_uid_name(patient_id)
    except ValueError as exc:
        raise DatasetError(path, f"{where}: Patient_ID {exc}") from None
    label = int(label_text)
    disagreement = label_disagreement(name, label, "labels column")
    if disagreement:
        raise DatasetError(path, f"{where}: labels disagree: {disagreement}")
    return Candidate(
        id=f"prelim_{int(path.stem)}",
        path=path,
        label=label,
        class_name=CLASS_NAMES[label],
        source_id=name.subject,
        split=PRELIM_SPLIT,
    )


def scan(root: str | Path, strict: bool = True, workers: int | None = None) -> ScanResult:
    root = require_root(root)
    images, others = split_images(list_files(root), DATASET)
    problems = Problems(DATASET, strict)

    # Labelled prelim folders: folder -> (CSV, rows grouped by image number).
    prelim: dict[Path, tuple[Path, dict[int, list[tuple[int, str, str]]] | None]] = {}
    for csv in (path for path in others if path.name.lower() == PRELIM_LABELS_CSV):
        folder = _prelim_folder(csv)
        if folder is None:
            problems.report(csv, f"image folder {csv.name[: -len('_labels.csv')]} not found beside it")
            continue
        prelim[folder] = (csv, _read_label_rows(csv, problems))

    candidates: list[Candidate] = []
    seen_numbers: dict[Path, set[int]] = {folder: set() for folder in prelim}
    unlabelled: list[Path] = []
    for path in images:
        try:
            training = _training_split(path)
            if training is not None:
                candidates.append(_training_candidate(path, *training))
                continue
            folder = next((folder for folder in prelim if path.is_relative_to(folder)), None)
            if folder is not None:
                csv, rows = prelim[folder]
                if rows is None:
                    raise DatasetError(path, f"no usable label: labels file {csv} could not be read")
                if _NUMBER.match(path.stem):
                    seen_numbers[folder].add(int(path.stem))
                    candidates.append(_prelim_candidate(path, csv, rows.get(int(path.stem))))
                else:
                    candidates.append(_prelim_candidate(path, csv, None))
                continue
            if path.suffix.lower() == ".bmp" and _NUMBER.match(path.stem):
                unlabelled.append(path)
                continue
            raise DatasetError(
                path,
                f"not a C-NMC image: expected fold_<k>/{{all,hem}}/{_EXPECTED_UID} or N.bmp beside a labels CSV",
            )
        except DatasetError as error:
            problems.report_error(error)

    for folder, (csv, rows) in prelim.items():
        for number in sorted(set(rows or {}) - seen_numbers[folder]):
            line = rows[number][0][0]
            problems.report(csv, f"line {line}: {number}.bmp has no image file in {folder}")

    for path in unlabelled:
        problems.reject(path, UNLABELLED)
    if unlabelled:
        log.warning(
            "%s: %d numbered test images without a labels CSV (e.g. %s) are not training data; listed as rejected",
            DATASET,
            len(unlabelled),
            unlabelled[0].parent,
        )

    training_subjects = {c.source_id for c in candidates if c.split != PRELIM_SPLIT}
    shared = sorted(training_subjects & {c.source_id for c in candidates if c.split == PRELIM_SPLIT})
    if shared:
        log.warning("%s: subjects in both training folds and the prelim test: %s", DATASET, ", ".join(shared))

    return build_manifest(DATASET, root, candidates, problems, workers=workers)
