"""UKM-WBC reader. The dataset is not public, so this layout is ours:

    <root>/<class>/images/<stem>.<png|jpg|jpeg|bmp|tif|tiff>
    <root>/<class>/masks/<stem>.png

`<class>` is one of `neutrophil` (label 0), `promyelocyte` (1), `lymphoblast` (2); class, `images`
and `masks` folder names are matched case-insensitively. Each image has exactly one nucleus mask
with the same stem and the same size: either binary/greyscale (nucleus = non-zero) or the
colour-coded format of the public ALL-IDB2 masks (background white, nucleus cyan (0,255,255),
cytoplasm blue). Manifest id = `<class>/<stem>`, source_id = `<stem>`, annotation = mask path.

Problems: an image or mask anywhere else (including an unknown class folder), an image without
its mask, a mask without its image, a mask whose size differs from its image, an empty mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leukoflow.core.errors import DatasetError
from leukoflow.core.io import read_mask
from leukoflow.data.readers.common import (
    Candidate,
    Problems,
    ScanResult,
    build_manifest,
    list_files,
    require_root,
    split_images,
)

DATASET = "ukm"
CLASSES = ("neutrophil", "promyelocyte", "lymphoblast")  # index = label
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_SUFFIX = ".png"
_LAYOUT = f"expected <class>/images/<stem>{{{','.join(IMAGE_SUFFIXES)}}} or <class>/masks/<stem>.png"


def _place(root: Path, path: Path) -> tuple[str, str]:
    """(class name, `images`|`masks`) of a file at `root/<class>/<kind>/<file>`.

    Raises DatasetError for any other location or an unknown class folder.
    """
    parts = path.relative_to(root).parts
    if len(parts) != 3 or parts[1].lower() not in ("images", "masks"):
        raise DatasetError(path, f"unexpected location; {_LAYOUT}")
    class_name = parts[0].lower()
    if class_name not in CLASSES:
        raise DatasetError(path, f"unknown class folder {parts[0]!r}; expected one of {', '.join(CLASSES)}")
    return class_name, parts[1].lower()


def check_mask(candidate: Candidate, rgb: np.ndarray) -> None:
    """Raise DatasetError (naming the image and its mask) if the mask does not fit the image."""
    try:
        mask = read_mask(candidate.annotation)
    except DatasetError as error:
        raise DatasetError(candidate.path, f"mask {error.path}: {error.problem}") from None
    if mask.shape != rgb.shape[:2]:
        raise DatasetError(
            candidate.path,
            f"mask {candidate.annotation} is {mask.shape[1]}x{mask.shape[0]}, image is {rgb.shape[1]}x{rgb.shape[0]}",
        )
    if not mask.any():
        raise DatasetError(candidate.path, f"mask {candidate.annotation} is empty (no nucleus pixels)")


def scan(root: str | Path, strict: bool = True, workers: int | None = None) -> ScanResult:
    root = require_root(root)
    files, _ = split_images(list_files(root), DATASET)
    problems = Problems(DATASET, strict)
    images: list[tuple[str, Path]] = []
    masks: dict[tuple[str, str], list[Path]] = {}
    for path in files:
        try:
            class_name, kind = _place(root, path)
            if kind == "masks":
                if path.suffix.lower() != MASK_SUFFIX:
                    raise DatasetError(path, f"mask is not a .png; {_LAYOUT}")
                masks.setdefault((class_name, path.stem), []).append(path)
            elif path.suffix.lower() not in IMAGE_SUFFIXES:
                raise DatasetError(path, f"unexpected image type {path.suffix!r}; {_LAYOUT}")
            else:
                images.append((class_name, path))
        except DatasetError as error:
            problems.report_error(error)

    candidates = []
    for class_name, path in images:
        found = masks.get((class_name, path.stem), [])
        if not found:
            problems.report(path, f"no mask {class_name}/masks/{path.stem}.png")
            continue
        if len(found) > 1:  # only possible with two differently-cased class folders
            problems.report(path, f"several masks: {', '.join(map(str, found))}")
            continue
        candidates.append(
            Candidate(
                id=f"{class_name}/{path.stem}",
                path=path,
                label=CLASSES.index(class_name),
                class_name=class_name,
                source_id=path.stem,
                annotation=found[0],
            )
        )
    image_keys = {(class_name, path.stem) for class_name, path in images}
    for key in sorted(set(masks) - image_keys):
        for mask in masks[key]:
            problems.report(mask, "mask without an image")

    return build_manifest(DATASET, root, candidates, problems, check=check_mask, workers=workers)
