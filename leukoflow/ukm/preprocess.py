"""Rule ukm_preprocess: every image of the manifest as grey + CLAHE at the network size, with its
nucleus mask and an RGB copy, in one tensor file; the splits in an index table.

Paper: grayscale, CLAHE (scikit-image), 256x256. CLAHE runs at the image's own resolution, then the
image is resized (antialiased) to size x size; the mask is resized the same way and thresholded at
half, so a nucleus keeps its area. The RGB copy (same size) is what the ROI crops are cut from for
the classifier (`ukm.classifier.crop_source`).

Splits are decided here, once, by source image (the manifest's `source_id`), stratified by class:
  * `unet_fold` 1..k: the U-Net's cross-validation folds (each image is segmented by the model of
    the fold that held it out);
  * `classifier_split` train/test: the paper's 70/30 split for the classifier.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import torch

from leukoflow.config import HOLDOUT_FOLD
from leukoflow.core.errors import DatasetError
from leukoflow.core.images import resize_batch
from leukoflow.core.io import atomic_path, read_mask, read_rgb, read_tsv, write_table_atomic
from leukoflow.core.splits import group_kfold, group_train_val_split

log = logging.getLogger(__name__)

INDEX_COLUMNS = ("row", "id", "source_id", "label", "class_name", "width", "height", "unet_fold", "classifier_split")


def clahe_grey(rgb: np.ndarray, clip_limit: float = 0.01, kernel_size: int | None = None) -> np.ndarray:
    """HxWx3 uint8 -> HxW uint8: luminance (scikit-image's rgb2gray), then CLAHE."""
    from skimage.color import rgb2gray
    from skimage.exposure import equalize_adapthist

    grey = rgb2gray(rgb)
    equalised = equalize_adapthist(grey, kernel_size=kernel_size, clip_limit=clip_limit)
    return np.clip(np.rint(equalised * 255.0), 0, 255).astype(np.uint8)


def _resize(array: np.ndarray, size: int) -> torch.Tensor:
    """HxW or HxWxC uint8 -> (C, size, size) uint8, antialiased bilinear."""
    tensor = torch.from_numpy(np.require(array, requirements=("C", "W")))  # decoded arrays can be read-only
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return resize_batch(tensor[None], size)[0]


def prepare_one(image_path: str, mask_path: str, size: int, clip_limit: float, kernel_size: int | None):
    """(grey (1, S, S), rgb (3, S, S), mask (S, S) in {0, 1}) uint8 tensors of one manifest row."""
    rgb = read_rgb(image_path)
    mask = read_mask(mask_path)
    grey = _resize(clahe_grey(rgb, clip_limit, kernel_size), size)
    resized_mask = _resize(mask.astype(np.uint8) * 255, size)[0] >= 128
    return grey, _resize(rgb, size), resized_mask.to(torch.uint8)


def group_strata(groups, labels) -> np.ndarray:
    """The label each row is stratified by: its source image's smallest label.

    A stem in two class folders is one source id; it is kept whole (it may be one image holding
    two cells) and stratified as one class, where the core's splits would refuse it.
    """
    frame = pd.DataFrame({"group": np.asarray(groups), "label": np.asarray(labels)})
    return frame.groupby("group")["label"].transform("min").to_numpy()


def assign_splits(manifest: pd.DataFrame, folds: int, test_fraction: float, seed: int) -> pd.DataFrame:
    """The index table: manifest rows with `unet_fold` and `classifier_split`, both by source image."""
    groups = manifest["source_id"].astype(str).to_numpy()
    labels = group_strata(groups, manifest["label"].to_numpy())
    shared = manifest.groupby("source_id")["label"].nunique()
    if (shared > 1).any():
        log.warning(
            "%d source ids occur in more than one class folder (%s): each is kept in one split as one source "
            "image; rename the files if they are different images",
            int((shared > 1).sum()),
            ", ".join(map(str, shared[shared > 1].index[:5])),
        )
    train, _ = group_train_val_split(groups, labels, test_fraction, seed=seed)
    index = manifest[["id", "source_id", "label", "class_name", "width", "height"]].copy()
    index.insert(0, "row", np.arange(len(manifest)))
    index["unet_fold"] = group_kfold(groups, labels, folds, seed=seed)
    index["classifier_split"] = np.where(train, "train", "test")
    return index[list(INDEX_COLUMNS)]


def preprocess_dataset(
    *,
    manifest_path: str,
    images_out: str,
    index_out: str,
    size: int,
    clip_limit: float,
    kernel_size: int | None,
    folds: int,
    test_fraction: float,
    seed: int,
    threads: int = 1,
) -> pd.DataFrame:
    """Write the tensor file (`grey`, `rgb`, `masks`, `labels`, `rows`) and the index table."""
    manifest = read_tsv(manifest_path, text_columns=("annotation",))
    manifest = manifest.sort_values("id", kind="stable").reset_index(drop=True)
    index = assign_splits(manifest, folds, test_fraction, seed)
    # Decoding, CLAHE and resizing release the GIL for most of their work (tifffile, Pillow,
    # scikit-image's numpy kernels, torch): threads overlap them.
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        prepared = list(
            pool.map(
                lambda row: prepare_one(row.path, row.annotation, size, clip_limit, kernel_size),
                manifest.itertuples(index=False),
            )
        )
    grey, rgb, masks = (torch.stack(parts) for parts in zip(*prepared))
    payload = {
        "grey": grey.contiguous(),
        "rgb": rgb.contiguous(),
        "masks": masks.contiguous(),
        "labels": torch.tensor(index["label"].to_numpy(), dtype=torch.int64),
        "rows": torch.tensor(index["row"].to_numpy(), dtype=torch.int64),
    }
    with atomic_path(images_out) as tmp:
        torch.save(payload, tmp)
    write_table_atomic(index, index_out)
    fraction = float(masks.float().mean())
    log.info(
        "%d images at %dx%d (grey + CLAHE clip %.3g); nucleus fraction %.3f; %d U-Net folds; classifier %s",
        len(index),
        size,
        size,
        clip_limit,
        fraction,
        folds,
        index["classifier_split"].value_counts().to_dict(),
    )
    return index


def load_preprocessed(path: str) -> dict[str, torch.Tensor]:
    """The tensor file of `preprocess_dataset` (weights_only loading)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DatasetError(path, f"not a readable UKM tensor file ({type(exc).__name__}: {exc})") from exc
    missing = {"grey", "rgb", "masks", "labels", "rows"} - set(payload)
    if missing:
        raise DatasetError(path, f"UKM tensor file lacks {sorted(missing)}")
    return payload


def read_index(path: str) -> pd.DataFrame:
    return read_tsv(path, text_columns=("class_name",))


def held_out_rows(index: pd.DataFrame, fold: int) -> np.ndarray:
    """Boolean per index row: the images a U-Net `fold` never trains on and is scored on."""
    if fold == HOLDOUT_FOLD:
        return (index["classifier_split"] == "test").to_numpy()
    return (index["unet_fold"] == fold).to_numpy()
