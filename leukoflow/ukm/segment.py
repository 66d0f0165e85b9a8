"""Rule ukm_segment: U-Net foreground -> threshold -> 5x5 opening -> connected components -> one ROI
crop per nucleus, for every image, each segmented by the model of the fold that held it out.

Inference only (torch + `leukoflow.inference`, no Lightning). Morphology runs on the whole stack
of masks at once: the opening with a (1, k, k) footprint and the labelling with a structure that
does not connect neighbouring images, so there is no Python loop over images until the crops are
cut (one sliding-window gather per image, `core.crops.extract_patches`).

Outputs
- pixel counts per image (tp, fp, fn, tn) before and after the opening, for every trained U-Net
  (the main loss on every fold, the comparison loss on its fold), and of a global Otsu threshold
  of every image (`loss` `THRESHOLD_BASELINE`, our choice: the one-line segmenter a reader tries
  first; a U-Net no better than it has learnt nothing a threshold does not know);
- the crops (uint8 tensor file at the classifier's input size) and their index: image, component,
  area, centroid, box in network pixels, the image's class and classifier split;
- the masks of a few example images per class for the report's figure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from leukoflow.config import HOLDOUT_FOLD
from leukoflow.core.crops import extract_patches, patch_boxes
from leukoflow.core.io import atomic_path, write_bag, write_table_atomic
from leukoflow.core.segmentation_metrics import pixel_counts
from leukoflow.inference import input_normalisation, load_exported, predict_foreground
from leukoflow.ukm.preprocess import held_out_rows, load_preprocessed, read_index

log = logging.getLogger(__name__)

COMPONENT_COLUMNS = ("image", "component", "area", "x", "y", "largest")
THRESHOLD_BASELINE = "otsu"
"""`loss` (and `mask`) of the baseline's pixel counts."""
LUMINANCE = (0.2125, 0.7154, 0.0721)  # scikit-image's rgb2gray, the grey the U-Net's input starts from


def otsu_masks(rgb: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) uint8 -> (N, H, W) bool: the dark side of a global Otsu threshold of each
    image's luminance (nuclei are the darkest objects), one threshold per image. Dark is the
    complement of scikit-image's foreground `image > t`, so pixels at `t` count as dark."""
    from skimage.filters import threshold_otsu

    grey = (rgb.permute(0, 2, 3, 1).to(torch.float32) @ torch.tensor(LUMINANCE)).numpy()
    # One histogram per image; the loop is over images, each thresholded in one vectorised call.
    return np.stack([image <= threshold_otsu(image) for image in grey]) if len(grey) else grey.astype(bool)


def open_masks(masks: np.ndarray, size: int) -> np.ndarray:
    """Morphological opening of boolean masks (N, H, W) with a size x size square, image by image
    (the footprint is flat along N); size <= 1 returns the masks unchanged.

    Pixels outside an image do not count (scikit-image's mode "ignore"), so a nucleus touching
    the border is not eroded from that side.
    """
    from skimage.morphology import footprint_rectangle, opening

    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {masks.shape}")
    if size <= 1:
        return masks.copy()
    # The separable decomposition (a 1xk then a kx1 pass) gives the same result as the full square.
    footprint = footprint_rectangle((1, size, size), decomposition="separable")
    return opening(masks, footprint=footprint, mode="ignore")


def nucleus_components(masks: np.ndarray, min_area: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Connected components (8-connectivity) of boolean masks (N, H, W), image by image.

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray)
        One row per component of at least `min_area` pixels: image index, component number
        within its image (1 = largest), area, centroid x and y (pixels), largest (bool); and the
        int32 label map (N, H, W) of the kept components (0 = background), numbered as the rows.
    """
    from scipy import ndimage

    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {masks.shape}")
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-connected within an image, never across images
    labels, count = ndimage.label(masks, structure=structure)
    image, y, x = np.nonzero(labels)
    label = labels[image, y, x]
    area = np.bincount(label, minlength=count + 1)[1:].astype(np.int64)
    safe = np.maximum(area, 1)
    table = pd.DataFrame(
        {
            "image": np.rint(np.bincount(label, weights=image, minlength=count + 1)[1:] / safe).astype(np.int64),
            "area": area,
            "x": np.bincount(label, weights=x, minlength=count + 1)[1:] / safe,
            "y": np.bincount(label, weights=y, minlength=count + 1)[1:] / safe,
            "label": np.arange(1, count + 1),
        }
    )
    table = table[table["area"] >= max(1, min_area)]
    table = table.sort_values(["image", "area", "label"], ascending=[True, False, True], kind="stable")
    table["component"] = table.groupby("image").cumcount() + 1
    table["largest"] = table["component"] == 1
    relabel = np.zeros(count + 1, dtype=np.int32)
    relabel[table["label"].to_numpy()] = np.arange(1, len(table) + 1, dtype=np.int32)
    table = table.drop(columns="label").reset_index(drop=True)
    return table[list(COMPONENT_COLUMNS)], relabel[labels]


def roi_crops(images_hwc: np.ndarray, components: pd.DataFrame, crop_size: int) -> tuple[torch.Tensor, np.ndarray]:
    """One crop_size x crop_size crop around every component's centroid, shifted inside its image.

    Parameters
    ----------
    images_hwc : numpy.ndarray
        uint8 (N, H, W, 3).
    components : pandas.DataFrame
        Rows of `nucleus_components` (columns image, x, y), grouped by image.

    Returns
    -------
    (torch.Tensor, numpy.ndarray)
        uint8 crops (M, 3, crop_size, crop_size) in the rows' order and their boxes (M, 4)
        `(x0, y0, x1, y1)`.
    """
    height, width = images_hwc.shape[1:3]
    crops, boxes = [], []
    # One call per image with nuclei (the boxes of an image are cut in one gather).
    for image, rows in components.groupby("image", sort=False):
        image_boxes = patch_boxes(rows[["x", "y"]].to_numpy(), (height, width), crop_size)
        crops.append(extract_patches(images_hwc[int(image)], image_boxes, crop_size))
        boxes.append(image_boxes)
    if not crops:
        return torch.zeros((0, 3, crop_size, crop_size), dtype=torch.uint8), np.zeros((0, 4), dtype=np.int64)
    return torch.cat(crops), np.concatenate(boxes)


def component_masks(label_map: np.ndarray, images: np.ndarray, boxes: np.ndarray) -> torch.Tensor:
    """uint8 (M, 1, S, S): 1 on the pixels of crop m's own nucleus (label m + 1 of `label_map`,
    numbered as the rows of `nucleus_components`), 0 elsewhere, neighbours included."""
    if len(boxes) == 0:
        return torch.zeros((0, 1, 0, 0), dtype=torch.uint8)
    side = int(boxes[0, 2] - boxes[0, 0])
    offsets = np.arange(side)
    ys = boxes[:, 1, None] + offsets  # (M, S)
    xs = boxes[:, 0, None] + offsets
    patches = label_map[images[:, None, None], ys[:, :, None], xs[:, None, :]]
    own = patches == (np.arange(len(boxes)) + 1)[:, None, None]
    return torch.from_numpy(own[:, None].astype(np.uint8))


def _predict(model_path: str, grey: torch.Tensor, device, batch_size: int) -> np.ndarray:
    model = load_exported(model_path)
    return predict_foreground(
        model, grey, batch_size=batch_size, device=device, normalisation=input_normalisation(model_path)
    )


def segment_dataset(
    *,
    images_path: str,
    index_path: str,
    models: Mapping[tuple[str, int], str],
    main_loss: str,
    threshold: float,
    opening: int,
    min_area: int,
    crop_size: int,
    crop_source: str,
    examples_per_class: int,
    device,
    batch_size: int,
    counts_out: str,
    crops_out: str,
    crops_index_out: str,
    examples_out: str,
) -> dict:
    """Segment every image with its held-out fold's U-Net; write counts, crops and examples.

    `models` maps (loss, fold) to an exported U-Net. The main loss must have a model for every
    fold of the index; other losses (the comparison) are scored on their fold only; fold 0
    (`HOLDOUT_FOLD`, the paper's 70/30 hold-out) is scored on the classifier's test images and
    feeds no crop. Crops are written at `crop_size`, each with the mask of its own nucleus
    (`masks`), so each classifier resizes (and masks) them as its method says.
    """
    data = load_preprocessed(images_path)
    index = read_index(index_path)
    truth = data["masks"].numpy().astype(bool)
    source = data["rgb"] if crop_source == "rgb" else data["grey"].expand(-1, 3, -1, -1)
    images_hwc = source.permute(0, 2, 3, 1).contiguous().numpy()
    folds = sorted(index["unet_fold"].unique())
    missing = [fold for fold in folds if (main_loss, fold) not in models]
    if missing:
        raise ValueError(f"no {main_loss} U-Net for folds {missing}")

    examples = pick_examples(index, examples_per_class)
    shape = truth.shape
    opened_main, raw_main = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    probability_examples = np.zeros((len(examples), *shape[1:]), dtype=np.float32)
    count_frames = []
    for (loss, fold), path in sorted(models.items()):
        rows = index["row"].to_numpy()[held_out_rows(index, fold)]
        probability = _predict(path, data["grey"][rows], device, batch_size)
        raw = probability >= threshold
        opened = open_masks(raw, opening)
        for kind, masks in (("raw", raw), ("opened", opened)):
            frame = index.loc[rows, ["row", "id", "source_id", "label"]].assign(loss=loss, fold=fold, mask=kind)
            frame[["tp", "fp", "fn", "tn"]] = pixel_counts(masks, truth[rows])
            count_frames.append(frame)
        if loss == main_loss and fold != HOLDOUT_FOLD:
            opened_main[rows], raw_main[rows] = opened, raw
            here = np.isin(examples, rows)
            probability_examples[here] = probability[np.searchsorted(rows, examples[here])]
        tp, fp, fn = (int(count_frames[-1][key].sum()) for key in ("tp", "fp", "fn"))
        log.info(
            "%s fold %d: %d images, Dice after opening %.4f", loss, fold, len(rows), 2 * tp / max(1, 2 * tp + fp + fn)
        )
    rows = index["row"].to_numpy()
    baseline = index.loc[rows, ["row", "id", "source_id", "label", "unet_fold"]].rename(columns={"unet_fold": "fold"})
    baseline = baseline.assign(loss=THRESHOLD_BASELINE, mask=THRESHOLD_BASELINE)
    baseline[["tp", "fp", "fn", "tn"]] = pixel_counts(otsu_masks(data["rgb"][rows]), truth[rows])
    count_frames.append(baseline)
    tp, fp, fn = (int(baseline[key].sum()) for key in ("tp", "fp", "fn"))
    log.info("global Otsu threshold (baseline): %d images, Dice %.4f", len(rows), 2 * tp / max(1, 2 * tp + fp + fn))
    counts = pd.concat(count_frames, ignore_index=True)
    columns = ["loss", "fold", "mask", "row", "id", "source_id", "label", "tp", "fp", "fn", "tn"]
    write_table_atomic(counts[columns], counts_out)

    components, label_map = nucleus_components(opened_main, min_area)
    crops, boxes = roi_crops(images_hwc, components, crop_size)
    masks = component_masks(label_map, components["image"].to_numpy(), boxes)
    meta = index.loc[components["image"].to_numpy()].reset_index(drop=True)
    crops_index = pd.concat(
        [
            pd.DataFrame({"crop": np.arange(len(components))}),
            meta[["row", "id", "source_id", "label", "class_name", "unet_fold", "classifier_split"]],
            components[["component", "area", "x", "y", "largest"]].round({"x": 1, "y": 1}),
            pd.DataFrame(boxes, columns=["x0", "y0", "x1", "y1"]),
        ],
        axis=1,
    )
    # writable copies
    write_bag(crops_out, crops, np.array(crops_index["label"]), np.array(crops_index["row"]), masks=masks)
    write_table_atomic(crops_index, crops_index_out)

    payload = {
        "rows": torch.as_tensor(examples, dtype=torch.int64),
        "grey": data["grey"][examples],
        "rgb": data["rgb"][examples],
        "truth": data["masks"][examples],
        "probability": torch.from_numpy(probability_examples),
        "raw": torch.from_numpy(raw_main[examples]),
        "opened": torch.from_numpy(opened_main[examples]),
    }
    with atomic_path(examples_out) as tmp:
        torch.save(payload, tmp)
    without = len(index) - crops_index["row"].nunique()
    log.info("%d crops from %d images (%d without a nucleus after opening)", len(crops_index), len(index), without)
    return {"crops": int(len(crops_index)), "images_without_crop": int(without)}


def pick_examples(index: pd.DataFrame, per_class: int) -> np.ndarray:
    """Rows shown in the report's figure: the first `per_class` classifier-test images of each class
    (their crops' predicted classes are then out of sample), else the first of any split."""
    chosen = []
    for label in sorted(index["label"].unique()):
        of_class = index[index["label"] == label]
        preferred = of_class[of_class["classifier_split"] == "test"]
        pool = preferred if len(preferred) else of_class
        chosen += pool["row"].head(per_class).tolist()
    return np.asarray(chosen, dtype=np.int64)
