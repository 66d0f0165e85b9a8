"""The cell crop of Liu & Long (2019): grayscale, Otsu threshold, erosion, convex hull, and the
square RGB patch that holds the hull in its middle, resized to the network input.

C-NMC cells are segmented and lie alone on a black background, often small in a 450x450 frame;
the crop makes the cell fill the network input. Every crop of a run is stored in ONE uint8
tensor file (`write_crops`), so training and prediction never decode an image again.

Our choices where the paper is silent, and one where we depart from it (method `ours`,
`leukoflow/cnmc/methods.py`; `as_published` keeps the paper's):
- threshold "background" (ours): our synthetic frames hold three intensity classes, black
  background, dark nucleus and pale cytoplasm, and there one Otsu threshold falls between nucleus
  and cytoplasm, which can cut off a nucleus that reaches the cell's edge; the lower of the two
  thresholds of a three-class Otsu (`threshold_multiotsu`) separates the background from the
  whole cell. Evidence from synthetic cells only; "otsu" is the paper's single threshold.
- the largest connected region after the erosion is the cell (specks of stray foreground would
  otherwise stretch the hull);
- the hull's box is grown back by the erosion radius and by `margin` on each side; parts of the
  square outside the frame are black, like the frame's own background.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from leukoflow.core.errors import DatasetError
from leukoflow.core.images import resize_batch
from leukoflow.core.io import atomic_path, read_rgb

log = logging.getLogger(__name__)

GRAY_WEIGHTS = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)  # skimage.color.rgb2gray's


@dataclass(frozen=True)
class CellBox:
    """The square that is cropped: top-left corner (may lie outside the image) and side, pixels."""

    top: int
    left: int
    side: int


THRESHOLDS = ("background", "otsu")


def foreground_threshold(gray: np.ndarray, threshold: str) -> float:
    """Grey level above which a pixel belongs to the cell (see the module docstring)."""
    from skimage.filters import threshold_multiotsu, threshold_otsu

    if threshold == "otsu":
        return float(threshold_otsu(gray))
    if threshold != "background":
        raise ValueError(f"threshold must be one of {THRESHOLDS}, got {threshold!r}")
    if len(np.unique(gray[:: max(1, gray.shape[0] // 64), :: max(1, gray.shape[1] // 64)])) < 3:
        return float(threshold_otsu(gray))  # two grey levels (a flat cell on black): one threshold
    return float(threshold_multiotsu(gray, classes=3)[0])


def cell_hull(rgb: np.ndarray, erosion_radius: int, threshold: str = "background") -> tuple[np.ndarray, int, int]:
    """Convex hull of the cell: threshold on grayscale, erosion, the largest region, its hull.

    Returns the hull as a bool mask of the region's bounding box and the box's (top, left) in
    the image: the hull never leaves the box of its region, and rasterising it in the box
    instead of the whole frame is about 5x faster (most of the crop's time at 450 px).
    The erosion is scipy's binary erosion with scikit-image's disk footprint: the result of
    `skimage.morphology.erosion`, 3-4x faster. Raises ValueError for a blank frame.
    """
    from scipy import ndimage
    from skimage.morphology import convex_hull_image, disk

    gray = rgb.astype(np.float32) @ GRAY_WEIGHTS
    if float(gray.max()) <= float(gray.min()):
        raise ValueError("blank image: no cell to crop")
    foreground = gray > foreground_threshold(gray, threshold)
    if erosion_radius > 0:
        foreground = ndimage.binary_erosion(foreground, structure=disk(erosion_radius), border_value=1)
    regions, count = ndimage.label(foreground, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        raise ValueError(f"no foreground left after an erosion of radius {erosion_radius}")
    sizes = np.bincount(regions.ravel())
    sizes[0] = 0
    cell = int(sizes.argmax())
    rows, cols = ndimage.find_objects(regions, max_label=cell)[cell - 1]
    return convex_hull_image(regions[rows, cols] == cell), rows.start, cols.start


def cell_box(hull: np.ndarray, top: int, left: int, erosion_radius: int, margin: float) -> CellBox:
    """The square around the hull's bounding box, centred on it: side = longest side + 2 x
    erosion radius (undoing the erosion), times 1 + 2 x margin."""
    rows = np.flatnonzero(hull.any(axis=1)) + top
    cols = np.flatnonzero(hull.any(axis=0)) + left
    height = rows[-1] - rows[0] + 1 + 2 * erosion_radius
    width = cols[-1] - cols[0] + 1 + 2 * erosion_radius
    side = int(np.ceil(max(height, width) * (1.0 + 2.0 * margin)))
    centre_y = (rows[0] + rows[-1] + 1) / 2.0
    centre_x = (cols[0] + cols[-1] + 1) / 2.0
    return CellBox(top=int(round(centre_y - side / 2.0)), left=int(round(centre_x - side / 2.0)), side=side)


def cut_box(rgb: np.ndarray, box: CellBox) -> np.ndarray:
    """The box's pixels (side x side x 3); outside the image is black."""
    out = np.zeros((box.side, box.side, 3), dtype=np.uint8)
    height, width = rgb.shape[:2]
    y0, x0 = max(box.top, 0), max(box.left, 0)
    y1, x1 = min(box.top + box.side, height), min(box.left + box.side, width)
    if y1 > y0 and x1 > x0:
        out[y0 - box.top : y1 - box.top, x0 - box.left : x1 - box.left] = rgb[y0:y1, x0:x1]
    return out


@dataclass(frozen=True)
class CropSettings:
    """`cnmc.crop` of the config: output side, erosion radius as a fraction of the frame width
    (the real frames are 450 px wide), margin around the hull's box per side, threshold rule."""

    size: int = 299
    erosion_fraction: float = 0.0067
    margin: float = 0.04
    threshold: str = "background"

    @classmethod
    def from_config(cls, crop: dict) -> CropSettings:
        return cls(
            size=int(crop["size"]),
            erosion_fraction=float(crop["erosion_fraction"]),
            margin=float(crop["margin"]),
            threshold=str(crop["threshold"]),
        )

    def erosion_radius(self, width: int) -> int:
        return max(0, int(round(self.erosion_fraction * width)))


def crop_cell(rgb: np.ndarray, settings: CropSettings) -> tuple[torch.Tensor, CellBox]:
    """One cell as a (3, size, size) uint8 tensor, and the box it was cut from."""
    radius = settings.erosion_radius(rgb.shape[1])
    box = cell_box(*cell_hull(rgb, radius, settings.threshold), radius, settings.margin)
    patch = torch.from_numpy(cut_box(rgb, box)).permute(2, 0, 1)[None]
    return resize_batch(patch, settings.size)[0], box


def crop_files(paths: Sequence[str], settings: CropSettings, workers: int = 2) -> tuple[torch.Tensor, list[CellBox]]:
    """Decode and crop every file (a thread pool: decoding and scikit-image release the GIL).

    Raises
    ------
    DatasetError
        Naming the first file that cannot be decoded or holds no cell.
    """

    def one(path: str):
        rgb = read_rgb(path)
        try:
            return crop_cell(rgb, settings)
        except ValueError as exc:
            raise DatasetError(path, f"cell crop failed: {exc}") from None

    images = torch.empty((len(paths), 3, settings.size, settings.size), dtype=torch.uint8)
    boxes: list[CellBox] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for index, (patch, box) in enumerate(pool.map(one, paths)):
            images[index] = patch
            boxes.append(box)
    return images, boxes


def write_crops(target: str | Path, images: torch.Tensor, table: pd.DataFrame) -> None:
    """One file: uint8 images (N, 3, S, S) and the per-row columns of `table` (ids, labels, ...)
    in the same order; loadable with `torch.load(weights_only=True)`."""
    if len(table) != images.shape[0]:
        raise ValueError(f"{images.shape[0]} crops but {len(table)} table rows")
    payload = {
        "images": images.contiguous(),
        "ids": [str(v) for v in table["id"]],
        "labels": torch.tensor(table["label"].to_numpy(dtype=np.int64)) if "label" in table else None,
    }
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)


def read_crops(path: str | Path) -> dict:
    """The payload of `write_crops`; DatasetError naming the file when it is not one."""
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as exc:
        raise DatasetError(path, f"not a readable crop file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or "images" not in payload or "ids" not in payload:
        raise DatasetError(path, "not a crop file (expected images and ids)")
    return payload


# --- the stage --------------------------------------------------------------------------------

TRAINING_SPLITS = ("fold_0", "fold_1", "fold_2")
UNLABELLED_PROBLEM = "unlabelled test image"  # data.readers.common.UNLABELLED, as written in rejected.tsv


def check_subject_folds(manifest: pd.DataFrame, strict: bool) -> None:
    """A subject whose cells sit in two training folds: DatasetError naming one of its files
    (strict), else a warning. The published folds keep each subject whole; a subject split over
    folds means a mixed-up copy (our own split is by subject either way, so it does not leak)."""
    training = manifest[manifest["split"].str.startswith("fold_")]
    folds = training.groupby("source_id")["split"].nunique()
    spread = folds[folds > 1]
    if spread.empty:
        return
    subject = str(spread.index[0])
    rows = training[training["source_id"] == subject].sort_values(["split", "id"])
    seen = sorted(rows["split"].unique())
    path = rows[rows["split"] == seen[1]]["path"].iloc[0]
    message = (
        f"subject {subject!r} has cells in {', '.join(seen)} ({len(spread)} subject(s) span several folds); "
        "the C-NMC folds keep each subject whole"
    )
    if strict:
        raise DatasetError(path, message)
    log.warning("%s: %s", path, message)


def unlabelled_paths(rejected: pd.DataFrame) -> list[str]:
    """Final-phase test images: listed in rejected.tsv as unlabelled, never in the manifest."""
    if rejected.empty or "problem" not in rejected:
        return []
    return sorted(rejected.loc[rejected["problem"] == UNLABELLED_PROBLEM, "path"].astype(str))


def crop_stage(
    *,
    manifest_path: str,
    rejected_path: str,
    crop: dict,
    strict: bool,
    threads: int,
    crops_out: str,
    index_out: str,
    unlabelled_out: str,
    unlabelled_index_out: str,
    sheet_out: str,
    sheet_cells: int = 4,
) -> pd.DataFrame:
    """Crop every manifest cell into one tensor file (+ index TSV), the unlabelled final-phase
    images into another, and draw the before/after contact sheet."""
    from leukoflow.cnmc.figures import crop_contact_sheet
    from leukoflow.core.io import write_table_atomic
    from leukoflow.data.manifest import read_manifest

    manifest = read_manifest(manifest_path)
    check_subject_folds(manifest, strict)
    settings = CropSettings.from_config(crop)
    images, boxes = crop_files(list(manifest["path"]), settings, workers=threads)
    index = manifest[["id", "path", "label", "class_name", "source_id", "split", "width", "height"]].copy()
    index["box_top"] = [b.top for b in boxes]
    index["box_left"] = [b.left for b in boxes]
    index["box_side"] = [b.side for b in boxes]
    index["threshold"] = settings.threshold  # which rule cut this crop (the methods differ by it)
    write_crops(crops_out, images, index)
    write_table_atomic(index, index_out)

    rejected = pd.read_csv(rejected_path, sep="\t", dtype=str, keep_default_na=False)
    paths = unlabelled_paths(rejected)
    extra, extra_boxes = crop_files(paths, settings, workers=threads)
    extra_index = pd.DataFrame({"id": [f"final_{Path(p).stem}" for p in paths], "path": paths})
    extra_index["box_side"] = [b.side for b in extra_boxes]
    write_crops(unlabelled_out, extra, extra_index)
    write_table_atomic(extra_index, unlabelled_index_out)

    crop_contact_sheet(index, images, sheet_out, per_class=sheet_cells)
    log.info(
        "cropped %d labelled cells (%s) and %d unlabelled final-phase images to %d px",
        len(index),
        ", ".join(f"{k} {v}" for k, v in index["split"].value_counts().sort_index().items()),
        len(paths),
        settings.size,
    )
    return index
