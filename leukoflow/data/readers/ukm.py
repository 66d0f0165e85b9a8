"""UKM-WBC reader. The dataset is not public, so this layout is ours:

    <root>/<class>/images/<stem>.<png|jpg|jpeg|bmp|tif|tiff>
    <root>/<class>/masks/<stem>.<png|tif|tiff|bmp>

`<class>` is one of `neutrophil` (label 0), `promyelocyte` (1), `lymphoblast` (2); class, `images`
and `masks` folder names are matched case-insensitively. Each image has exactly one nucleus mask
with the same stem and the same size, in a lossless format (PNG, TIFF or BMP, whatever the image's
format): either binary/greyscale (nucleus = non-zero) or the colour-coded format of the public
ALL-IDB2 masks (background white, nucleus cyan (0,255,255), cytoplasm blue). Manifest id =
`<class>/<stem>`, source_id = `<stem>`, annotation = mask path.

Problems: a folder under the root that is not one of the three classes (named once, whatever it
holds, even nothing: a fourth class must not vanish silently; its files are not read), an image or
mask anywhere else, a mask in a lossy format, an image without its mask, a mask without its image,
two masks for one image, a mask whose size differs from its image, an empty mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leukoflow.core.errors import DatasetError
from leukoflow.core.io import MASK_SUFFIXES, read_mask
from leukoflow.data.datasets import DATASETS
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
CLASSES = DATASETS["ukm"].classes  # index = label
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_LAYOUT = (
    f"expected <class>/images/<stem>{{{','.join(IMAGE_SUFFIXES)}}} or <class>/masks/<stem>{{{','.join(MASK_SUFFIXES)}}}"
)
_MASK_NAME = f"<{'|'.join(s.lstrip('.') for s in MASK_SUFFIXES)}>"


def unknown_class_folders(root: Path) -> list[Path]:
    """Folders directly under `root` whose name is not a class (compared case-insensitively)."""
    return sorted(path for path in root.iterdir() if path.is_dir() and path.name.lower() not in CLASSES)


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
    problems = Problems(DATASET, strict)
    unknown = unknown_class_folders(root)
    for folder in unknown:
        problems.report(folder, f"unknown class folder {folder.name!r}; expected one of {', '.join(CLASSES)}")
    skipped = {folder.name for folder in unknown}
    files, _ = split_images(list_files(root), DATASET)
    files = [path for path in files if path.relative_to(root).parts[0] not in skipped]
    images: list[tuple[str, Path]] = []
    masks: dict[tuple[str, str], list[Path]] = {}
    for path in files:
        try:
            class_name, kind = _place(root, path)
            if kind == "masks":
                if path.suffix.lower() not in MASK_SUFFIXES:
                    raise DatasetError(path, f"mask in a lossy or unknown format {path.suffix!r}; {_LAYOUT}")
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
            problems.report(path, f"no mask {class_name}/masks/{path.stem}.{_MASK_NAME}")
            continue
        if len(found) > 1:  # two formats of one mask, or two differently-cased class folders
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
