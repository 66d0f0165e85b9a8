"""ALL-IDB1 whole-slide stage (Ghosh et al. 2017, III-B/C): heatmap -> WBC mask -> centroids ->
257x257 patches -> verdicts, one slide at a time, every patch of a slide in one batch.

The network was trained on crops resized from `frame` (257) to `input_size` pixels, so a slide is
scaled by input_size / frame before it meets the network: the conv filters then see cells at the
scale they were trained on. Heatmaps are stored at that working scale (float16) and brought back
to the slide's size when the mask is built.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from leukoflow.allidb1.centroids import find_centroids
from leukoflow.allidb1.heatmap import excitation_map, wbc_mask
from leukoflow.core.crops import draw_boxes, extract_patches, patch_boxes
from leukoflow.core.images import imagenet_normalise, resize_batch, resize_image, upsample_map
from leukoflow.core.io import atomic_path, read_rgb, write_table_atomic
from leukoflow.core.stain import eosin_mask
from leukoflow.inference import load_exported, predict_proba

log = logging.getLogger(__name__)

PATCH_COLUMNS = ["slide", "x", "y", "x0", "y0", "x1", "y1", "prob_all", "abnormal"]


def working_scale(cnn: dict) -> float:
    return cnn["input_size"] / cnn["frame"]


@torch.inference_mode()
def excitation_polarity(features: torch.nn.Module, crops: torch.Tensor, tiles: int = 4) -> dict:
    """Which side of the mean-excitation map marks white cells, measured on training crops.

    The paper's network (ImageNet conv layers, fine-tuned) excites on white cells. A network
    trained from random weights may instead excite on the bright background and stay low on the
    dark nuclei, which would make "threshold the hot part" select background. ALL-IDB2 crops
    centre one white cell by construction, so comparing the mean excitation inside the central
    disk (radius a quarter of the crop) with the rest of the crop says which way the map points:
    polarity +1 keeps the map, -1 inverts it (1 - map) before thresholding.

    The crops are laid out as mosaics of tiles x tiles, and each mosaic goes through the conv
    stack like a small slide, because one crop's last conv map is only a few cells wide (2x2 at
    97 pixels) and the slide heatmap is computed on whole fields too.
    """
    features.eval()
    import math

    n, _, size, _ = crops.shape
    if n == 0:
        raise ValueError("excitation_polarity needs at least one crop")
    tiles = max(1, min(tiles, math.isqrt(n)))  # small test runs have few crops per bag
    n = (n // tiles**2) * tiles**2
    mosaics = (
        crops[:n]
        .reshape(-1, tiles, tiles, 3, size, size)
        .permute(0, 3, 1, 4, 2, 5)
        .reshape(-1, 3, tiles * size, tiles * size)
    )
    maps = torch.cat(
        [
            F.interpolate(
                features(imagenet_normalise(m[None])).mean(dim=1, keepdim=True),
                size=m.shape[-2:],
                mode="bilinear",
                align_corners=False,
            )[0, 0]
            for m in mosaics
        ]
    )  # (n_mosaics * tiles * size, tiles * size)
    tiles_maps = maps.reshape(-1, tiles, size, tiles, size).permute(0, 1, 3, 2, 4).reshape(-1, size, size)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centre = ((yy - (size - 1) / 2) ** 2 + (xx - (size - 1) / 2) ** 2) <= (size / 4) ** 2
    inside, outside = float(tiles_maps[:, centre].mean()), float(tiles_maps[:, ~centre].mean())
    return {
        "polarity": 1 if inside >= outside else -1,
        "centre_mean": inside,
        "surround_mean": outside,
        "n_crops": int(n),
    }


def slide_heatmap(rgb: np.ndarray, model_path: str, scale: float, device=None, polarity: int = 1) -> np.ndarray:
    """Mean conv excitation over the whole slide at the working scale, in [0, 1] (float16),
    inverted when the network's polarity is -1 (see `excitation_polarity`)."""
    model = load_exported(model_path)
    heat = excitation_map(model.features, resize_image(rgb, scale), device=device)
    if polarity < 0:
        heat = 1.0 - heat
    return heat.astype(np.float16)


def segment_slide(rgb: np.ndarray, heatmap: np.ndarray, settings: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """WBC mask (heatmap AND eosin), and the centroids of its cells; also the intermediate masks.

    The eosin threshold keeps stained nuclei, whose chromatin texture and nucleoli break them into
    fragments; a small closing rejoins the fragments of one nucleus, and centroids closer than
    `min_distance` (pixels on a 2592-wide slide, scaled to this slide) are merged, so one cell
    gives one centroid while touching cells still give one each.
    """
    from scipy import ndimage as ndi
    from skimage.morphology import disk

    from leukoflow.allidb1.heatmap import fill_small_holes
    from leukoflow.core.matching import scaled_radius

    heat = upsample_map(heatmap, rgb.shape[:2])
    mask = wbc_mask(
        rgb,
        heat,
        heat_threshold=settings["heat_threshold"],
        eosin_threshold=settings["eosin_threshold"],
        min_area=settings["min_area"],
        opening_radius=settings["opening_radius"],
        max_hole_area=settings["max_hole_area"],
    )
    if settings["closing_radius"]:
        mask = ndi.binary_closing(mask, structure=disk(settings["closing_radius"]), border_value=0)
        mask = fill_small_holes(mask, settings["max_hole_area"])
    min_distance = scaled_radius(settings["min_distance"], rgb.shape[1]) if settings["min_distance"] else None
    centroids = find_centroids(
        mask, cost=settings["centroid_cost"], min_prominence=settings["min_prominence"], min_distance=min_distance
    )
    stages = {
        "heat": heat,
        "heat_mask": heat > settings["heat_threshold"],
        "eosin_mask": eosin_mask(rgb, settings["eosin_threshold"]),
        "mask": mask,
    }
    return mask, centroids, stages


def classify_patches(
    rgb: np.ndarray,
    centroids: np.ndarray,
    model_paths: Sequence[str],
    patch_size: int,
    input_size: int,
    batch_size: int = 64,
    device=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and P(ALL) per patch: the mean over the given models' probabilities.

    All patches of the slide are cut in one indexing operation and resized in one batch, then
    each model scores the whole batch.
    """
    if len(centroids) == 0:
        return np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.float32)
    boxes = patch_boxes(centroids, rgb.shape[:2], size=patch_size)
    patches = resize_batch(extract_patches(rgb, boxes), input_size)
    probabilities = np.mean(
        [predict_proba(load_exported(p), patches, batch_size=batch_size, device=device)[:, 1] for p in model_paths],
        axis=0,
    )
    return boxes, probabilities.astype(np.float32)


def patch_table(
    slide: str, centroids: np.ndarray, boxes: np.ndarray, prob: np.ndarray, threshold: float
) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "slide": slide,
            "x": centroids[:, 0] if len(centroids) else np.zeros(0, int),
            "y": centroids[:, 1] if len(centroids) else np.zeros(0, int),
            "x0": boxes[:, 0],
            "y0": boxes[:, 1],
            "x1": boxes[:, 2],
            "y1": boxes[:, 3],
            "prob_all": prob,
        }
    )
    table["abnormal"] = (table["prob_all"] >= threshold).astype(int)
    return table[PATCH_COLUMNS]


def save_mask_png(mask: np.ndarray, out: str) -> None:
    from PIL import Image

    with atomic_path(out) as tmp:
        Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, format="PNG", optimize=True)


def load_mask_png(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image) > 0


def slide_panel(rgb, stages: dict, boxes, abnormal, out_png: str, title: str, truth_xy=None) -> None:
    """Fig. 4/5 of the paper for one slide: original, heatmap, masked image, eosin mask, boxes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    masked = rgb * stages["heat_mask"][..., None]
    boxed = draw_boxes(rgb, boxes, np.asarray(abnormal, dtype=bool), thickness=max(3, rgb.shape[1] // 400))
    panels = [
        ("original", rgb, None),
        ("heatmap (mean excitation)", stages["heat"], "inferno"),
        ("heatmap-masked image", masked, None),
        ("eosin-thresholded mask", stages["eosin_mask"], "gray"),
        ("final mask", stages["mask"], "gray"),
        ("patches: red abnormal, green normal", boxed, None),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.6))
    for ax, (name, image, cmap) in zip(axes.ravel(), panels):
        ax.imshow(image, cmap=cmap)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if truth_xy is not None and len(truth_xy):
        axes[1, 2].scatter(truth_xy[:, 0], truth_xy[:, 1], marker="x", s=30, c="yellow", label=".xyc blast")
        axes[1, 2].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)


def slide_row(manifest: pd.DataFrame, slide: str) -> pd.Series | None:
    rows = manifest[manifest["id"] == slide]
    return None if rows.empty else rows.iloc[0]


def run_heatmap(
    *, manifest: pd.DataFrame, slide: str, model_path: str, cnn: dict, out: str, device=None, polarity: int = 1
) -> None:
    row = slide_row(manifest, slide)
    if row is None:  # rejected under strict: false; the record says so downstream
        heat = np.zeros((0, 0), dtype=np.float16)
        log.warning("%s is not in the ALL-IDB1 manifest (rejected); writing an empty heatmap", slide)
    else:
        heat = slide_heatmap(read_rgb(row["path"]), model_path, working_scale(cnn), device, polarity)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, heat)


CENTROID_COLUMNS = ["x", "y"]


def run_segment(
    *, manifest: pd.DataFrame, slide: str, heatmap_path: str, settings: dict, mask_out: str, centroids_out: str
) -> np.ndarray:
    """Rule segment: heatmap + eosin -> WBC mask (PNG) and its centroids (TSV)."""
    row = slide_row(manifest, slide)
    if row is None:
        save_mask_png(np.zeros((1, 1), bool), mask_out)
        write_table_atomic(pd.DataFrame(columns=CENTROID_COLUMNS), centroids_out)
        return np.zeros((0, 2), dtype=np.int64)
    rgb = read_rgb(row["path"])
    mask, centroids, _ = segment_slide(rgb, np.load(heatmap_path), settings)
    save_mask_png(mask, mask_out)
    write_table_atomic(pd.DataFrame(centroids, columns=CENTROID_COLUMNS), centroids_out)
    log.info("%s: %d centroids, %.1f%% of the slide in the WBC mask", slide, len(centroids), 100 * mask.mean())
    return centroids


def run_classify(
    *,
    manifest: pd.DataFrame,
    slide: str,
    heatmap_path: str,
    mask_path: str,
    centroids_path: str,
    model_paths: Sequence[str],
    cnn: dict,
    settings: dict,
    patches_out: str,
    panel_out: str,
    truth_xy=None,
    data_label: str = "",
    device=None,
) -> pd.DataFrame:
    """Rule classify_patches: one batch of 257x257 patches per slide -> P(ALL), verdict boxes, panel."""
    row = slide_row(manifest, slide)
    if row is None:
        table = pd.DataFrame(columns=PATCH_COLUMNS)
        write_table_atomic(table, patches_out)
        _empty_panel(panel_out, f"{slide}: rejected from the manifest")
        return table
    rgb = read_rgb(row["path"])
    centroids = pd.read_csv(centroids_path, sep="\t")[CENTROID_COLUMNS].to_numpy(np.int64)
    boxes, prob = classify_patches(
        rgb, centroids, model_paths, settings["patch_size"], cnn["input_size"], device=device
    )
    table = patch_table(slide, centroids, boxes, prob, settings["abnormal_threshold"])
    write_table_atomic(table, patches_out)
    heat = upsample_map(np.load(heatmap_path), rgb.shape[:2])
    stages = {
        "heat": heat,
        "heat_mask": heat > settings["heat_threshold"],
        "eosin_mask": eosin_mask(rgb, settings["eosin_threshold"]),
        "mask": load_mask_png(mask_path),
    }
    n_abnormal = int(table["abnormal"].sum())
    title = f"{slide} ({row['class_name']}): {len(table)} patches, {n_abnormal} abnormal{data_label}"
    slide_panel(rgb, stages, boxes, table["abnormal"].to_numpy(), panel_out, title, truth_xy)
    log.info("%s: %d patches, %d abnormal", slide, len(table), n_abnormal)
    return table


def _empty_panel(out_png: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(4, 1))
    fig.text(0.5, 0.5, title, ha="center", va="center")
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
