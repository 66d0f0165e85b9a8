"""ALL-IDB2 reader: single-cell crops `ImXXX_Y.tif` (Y = 1 ALL, 0 healthy), found recursively.

Most crops are 257x257 but ten real ones are smaller (down to 193 px wide), so the size is
read from each file and never asserted.
"""

from __future__ import annotations

import logging
from pathlib import Path

from leukoflow.core.errors import DatasetError, warn_once
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

DATASET = "allidb2"
IMAGE_SUFFIXES = (".tif", ".tiff")
CLASS_NAMES = dict(enumerate(DATASETS["allidb2"].classes))
FRAME = 257  # the ALL-IDB2 crop size: the frame every crop is padded to
log = logging.getLogger("leukoflow.data.readers")


def warn_oversized(candidate: Candidate, rgb) -> None:
    """Said when the manifest is built, not first when the crop is framed for training."""
    height, width = rgb.shape[:2]
    if height > FRAME or width > FRAME:
        warn_once(
            log,
            candidate.path,
            "oversized",
            f"{width}x{height} crop is larger than the {FRAME}x{FRAME} ALL-IDB2 frame: it will be centre-cropped "
            "to the frame when the bags are built",
        )


def scan(root: str | Path, strict: bool = True, workers: int | None = None) -> ScanResult:
    root = require_root(root)
    images, _ = split_images(list_files(root), DATASET)
    problems = Problems(DATASET, strict)
    candidates = []
    for path in images:
        try:
            image_id, label = parse_allidb_name(path, IMAGE_SUFFIXES, "ALL-IDB2")
        except DatasetError as error:
            problems.report_error(error)
            continue
        candidates.append(
            Candidate(id=image_id, path=path, label=label, class_name=CLASS_NAMES[label], source_id=image_id)
        )
    candidates = drop_relabelled(candidates, problems)
    return build_manifest(DATASET, root, candidates, problems, check=warn_oversized, workers=workers)
