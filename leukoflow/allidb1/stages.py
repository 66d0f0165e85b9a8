"""ALL-IDB1 slide stage (Ghosh et al. 2017, III-B/C), one rule per step, each job taking a group
of slides: cell size -> heatmap -> mask and centroids -> 257x257 patch verdicts.

A job decodes each of its slides once and loads its network(s) once, whatever the group size
(`allidb1.slides.group_size`); per-slide results of a group go into one file per step
(`files.py` reads and writes them; the cell sizes are one table for all slides):

  cell_sizes.tsv                            slide, size, red-cell ruler, own estimate, diameter used, source
  <method>/group<g>/heatmaps.npz            slide -> float16 heatmap at the working scale (+ meta)
  <method>/group<g>/centroids.tsv           slide, x, y
  <method>/group<g>/thumbs.npz              slide -> small RGB and masks for the panels
  <method>/group<g>/localisation.tsv/.npz   heatmap measures per slide and their histograms
  <method>/group<g>/patches.tsv             slide, x, y, box, prob_all, abnormal

The network was trained on crops resized from `frame` (257) to `input_size` pixels. The paper's
method feeds every slide at that fixed scale (input_size / frame); with `cell_scale` the slide is
resized so its white cells have the size they had in the crops (`cellsize.working_scale`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from leukoflow.allidb1.files import (
    CELL_SIZE_COLUMNS,
    CENTROID_COLUMNS,
    PATCH_COLUMNS,
    diameters,
    load_npz,
    read_tables,
    save_npz,
    slide_paths,
)
from leukoflow.allidb1.methods import patch_side, pixel_sizes
from leukoflow.core.io import read_rgb, read_tsv, write_table_atomic

log = logging.getLogger(__name__)

THUMB_WIDTH = 480  # panel images: a slide column of the panel figure is about 240 px wide


# --- rule allidb1_cell_size ---------------------------------------------------------------------


def run_cell_sizes(*, manifest: pd.DataFrame, slides: Sequence[str], settings: Mapping, out: str) -> pd.DataFrame:
    """The typical white-cell diameter of every slide: `cell_diameter_px` from the config, or each
    slide's own estimate from its red cells where plausible (`cellsize.settle_diameters`)."""
    from leukoflow.allidb1.cellsize import estimate_cell_diameter, settle_diameters

    fixed = settings.get("cell_diameter_px")
    rows = []
    for slide, path in slide_paths(manifest, slides).items():
        rgb = read_rgb(path)
        row = {"slide": slide, "width": rgb.shape[1], "height": rgb.shape[0]}
        rows.append({**row, **({} if fixed else estimate_cell_diameter(rgb))})
    table = pd.DataFrame(rows).reindex(columns=CELL_SIZE_COLUMNS[:-2])
    if fixed:
        table["diameter_px"], table["source"] = float(fixed), "config"
    elif len(table):
        table = settle_diameters(table)
    for row in table.itertuples():
        log.info(
            "%s: white-cell diameter %.1f px (%s; red cells %.1f px from %s circles; %s white cells, nucleus/red %s)",
            row.slide,
            row.diameter_px,
            row.source,
            row.red_cell_px,
            row.red_cells,
            row.white_cells,
            row.nucleus_to_red,
        )
    write_table_atomic(table.reindex(columns=CELL_SIZE_COLUMNS), out)
    return table


# --- rule allidb1_heatmap -----------------------------------------------------------------------


def slide_scale(settings: Mapping, cnn: Mapping, diameter: float) -> float:
    """The factor a slide is resized by before the network sees it (see the module docstring)."""
    if settings["cell_scale"]:
        from leukoflow.allidb1.cellsize import working_scale

        return working_scale(diameter, cnn["input_size"], settings["crop_cell_fraction"])
    return cnn["input_size"] / cnn["frame"]


def run_heatmaps(
    *,
    manifest: pd.DataFrame,
    slides: Sequence[str],
    settings: Mapping,
    cnn: Mapping,
    model_path: str,
    cell_sizes_path: str,
    out: str,
    device=None,
) -> None:
    """Mean conv excitation of each slide at its working scale, [0, 1] per slide (float16); one
    network load for the whole group."""
    from leukoflow.core.images import resize_image
    from leukoflow.inference import load_exported
    from leukoflow.slides.heatmap import excitation_map

    model = load_exported(model_path)
    normalisation = getattr(model, "normalisation", "imagenet")  # GhoshNet: its trunk's, as trained
    sizes = diameters(read_tables(cell_sizes_path))
    from leukoflow.runtime.progress import Progress

    maps, scales = {}, {}
    paths = slide_paths(manifest, slides)
    progress = Progress("heatmaps", len(paths), log, unit="slides")
    for slide, path in paths.items():
        scale = slide_scale(settings, cnn, sizes[slide])
        heat = excitation_map(model.features, resize_image(read_rgb(path), scale), device, normalisation)
        maps[slide] = heat.astype(np.float16)
        scales[slide] = scale
        log.info("%s: heatmap %s at scale %.3f", slide, maps[slide].shape, scale)
        progress.advance()
    save_npz(maps, out, {"scales": scales, "normalisation": normalisation})


# --- rule allidb1_segment -----------------------------------------------------------------------


def segment_slide(rgb: np.ndarray, heat: np.ndarray, settings: Mapping, diameter: float) -> dict:
    """White-cell mask (heat above threshold AND eosin), the method's clean-up, and its centroids.

    `heat` is the slide-size heatmap; with `heatmap_polarity: calibrate` it is inverted where it is
    lower on eosin-positive pixels than elsewhere (`localisation.calibrated_polarity`). Returns the
    heatmap used (`heat`) and its `polarity`, the masks (`eosin`, `heat_mask`, `mask`) and
    `centroids` (N, 2) int64 (x, y).
    """
    from leukoflow.core.stain import eosin_mask
    from leukoflow.slides.centroids import find_centroids
    from leukoflow.slides.masks import clean_mask, threshold_map

    sizes = pixel_sizes(settings, diameter)
    eosin = eosin_mask(rgb, settings["eosin_threshold"])
    polarity = 1
    if settings["heatmap_polarity"] == "calibrate":
        from leukoflow.allidb1.localisation import calibrated_polarity

        polarity = calibrated_polarity(heat, eosin)
        heat = 1.0 - heat if polarity < 0 else heat
    threshold = settings["heat_threshold"]
    if settings["heat_otsu"] and heat.max() > heat.min():
        from skimage.filters import threshold_otsu

        threshold = float(threshold_otsu(heat))
    heat_mask = threshold_map(heat, threshold)
    mask = clean_mask(
        heat_mask & eosin,
        opening_radius=sizes["opening_radius"],
        closing_radius=sizes["closing_radius"],
        max_hole_area=sizes["max_hole_area"],
        min_area=sizes["min_area"],
    )
    centroids = find_centroids(
        mask,
        cost=settings["centroid_cost"],
        rule=settings["centroid_rule"],
        min_prominence=settings["min_prominence"],
        min_distance=sizes["min_distance"] or None,
    )
    return {
        "heat": heat,
        "polarity": polarity,
        "eosin": eosin,
        "heat_mask": heat_mask,
        "mask": mask,
        "centroids": centroids,
    }


def segment_step(settings: Mapping, diameter: float) -> int:
    """Pixel step of the grid the method segments on: 1 (full resolution, the paper's), or with
    `segment_cell_px` the step that brings a white cell to about that many pixels; the improved
    method's sizes are in cell units, so a 2592x1944 slide costs a quarter of the pixels."""
    cell_px = settings["segment_cell_px"]
    return max(1, int(round(diameter / cell_px))) if cell_px else 1


def upsample(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a small map to `shape` (pixel centres aligned, edges clamped), float32.

    `core.images.upsample_map` does the same with torch; numpy here keeps torch, and its second
    or so of start-up, out of the segmentation job."""
    values = np.asarray(values, np.float32)

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        position = np.clip((np.arange(n_out, dtype=np.float32) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, (position - low).astype(np.float32)

    rows, cols = axis(values.shape[0], shape[0]), axis(values.shape[1], shape[1])
    by_row = values[rows[0]] * (1 - rows[2])[:, None] + values[rows[1]] * rows[2][:, None]
    return by_row[:, cols[0]] * (1 - cols[2]) + by_row[:, cols[1]] * cols[2]


def thumbnail(image: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """Every k-th pixel so the image is at most `width` wide (display only)."""
    step = max(1, int(np.ceil(image.shape[1] / width)))
    return np.ascontiguousarray(image[::step, ::step])


def run_segments(
    *,
    manifest: pd.DataFrame,
    slides: Sequence[str],
    settings: Mapping,
    heatmaps_path: str,
    cell_sizes_path: str,
    truth: pd.DataFrame | None,
    centroids_out: str,
    thumbs_out: str,
    localisation_out: str,
    histograms_out: str,
) -> pd.DataFrame:
    """Masks and centroids of every slide of the group, and how well its heatmap marks the cells
    (`localisation.slide_localisation`: against the `.xyc` blasts, and the generator's white
    cells when `truth` is given)."""
    from leukoflow.allidb1.localisation import slide_localisation
    from leukoflow.data.readers.allidb1 import read_xyc

    heatmaps, _ = load_npz(heatmaps_path)
    sizes = diameters(read_tables(cell_sizes_path))
    annotations = manifest.set_index("id")["annotation"]
    centroids, thumbs, measures, histograms = [], {}, [], {}
    for slide, path in slide_paths(manifest, slides).items():
        step = segment_step(settings, sizes[slide])
        rgb = read_rgb(path)[::step, ::step]
        heat = upsample(heatmaps[slide], rgb.shape[:2])
        result = segment_slide(rgb, heat, settings, sizes[slide] / step)
        points = result["centroids"] * step
        centroids.append(pd.DataFrame({"slide": slide, "x": points[:, 0], "y": points[:, 1]}))
        for name, image in (("rgb", rgb), *((k, result[k]) for k in ("heat", "eosin", "heat_mask", "mask"))):
            small = thumbnail(image)
            thumbs[f"{slide}/{name}"] = small.astype(np.float16) if name == "heat" else small
        cells = None
        if truth is not None:
            cells = truth.loc[truth["image_id"] == slide, ["x", "y", "radius"]].to_numpy(float) / step
        blasts = read_xyc(annotations[slide]) / step
        row, counts = slide_localisation(result["heat"], result["eosin"], blasts, sizes[slide] / step, cells)
        calibrated = settings["heatmap_polarity"] == "calibrate"
        measures.append({"slide": slide, "calibrated": calibrated, "polarity": result["polarity"], **row})
        histograms.update({f"{slide}/{name}": value for name, value in counts.items()})
        log.info(
            "%s: %d centroids, %.1f%% of the slide in the mask; heatmap %s",
            slide,
            len(points),
            100 * result["mask"].mean(),
            {k: round(v, 3) for k, v in row.items() if k.endswith("auc")},
        )
    table = pd.concat(centroids, ignore_index=True) if centroids else pd.DataFrame(columns=CENTROID_COLUMNS)
    write_table_atomic(table[CENTROID_COLUMNS], centroids_out)
    save_npz(thumbs, thumbs_out)
    write_table_atomic(pd.DataFrame(measures, columns=["slide", *_measure_columns(measures)]), localisation_out)
    save_npz(histograms, histograms_out)
    return table


def _measure_columns(measures: list[dict]) -> list[str]:
    columns = dict.fromkeys(key for row in measures for key in row if key != "slide")
    return list(columns)


# --- rule allidb1_classify_patches --------------------------------------------------------------


def load_networks(paths: Sequence[str]) -> list:
    from leukoflow.inference import load_exported

    return [load_exported(p) for p in paths]


def classify_patches(
    rgb: np.ndarray, centroids: np.ndarray, models: Sequence, patch_size: int, input_size: int, device=None
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and P(ALL) per patch: the mean over `models`' probabilities, all patches of the
    slide cut in one indexing operation, resized in one batch and scored by each model."""
    from leukoflow.core.crops import extract_patches, patch_boxes
    from leukoflow.core.images import resize_batch
    from leukoflow.inference import predict_proba

    if len(centroids) == 0:
        return np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.float32)
    boxes = patch_boxes(centroids, rgb.shape[:2], size=patch_size)
    patches = resize_batch(extract_patches(rgb, boxes), input_size)
    probabilities = [
        predict_proba(m, patches, device=device, normalisation=getattr(m, "normalisation", "imagenet"))[:, 1]
        for m in models
    ]
    return boxes, np.mean(probabilities, axis=0).astype(np.float32)


def run_classify(
    *,
    manifest: pd.DataFrame,
    slides: Sequence[str],
    settings: Mapping,
    cnn: Mapping,
    centroids_path: str,
    cell_sizes_path: str,
    model_paths: Sequence[str],
    patches_out: str,
    device=None,
) -> pd.DataFrame:
    """P(ALL) of the patch around every centroid of every slide of the group; a patch is abnormal
    at `abnormal_threshold`."""
    models = load_networks(model_paths)
    sizes = diameters(read_tables(cell_sizes_path))
    centroids = read_tsv(centroids_path, text_columns=("slide",))
    tables = []
    for slide, path in slide_paths(manifest, slides).items():
        points = centroids.loc[centroids["slide"] == slide, ["x", "y"]].to_numpy(np.int64)
        patch_size = patch_side(settings, sizes[slide])
        boxes, prob = classify_patches(read_rgb(path), points, models, patch_size, cnn["input_size"], device)
        table = pd.DataFrame({"slide": slide, "x": points[:, 0], "y": points[:, 1]})
        table[["x0", "y0", "x1", "y1"]] = boxes.reshape(-1, 4)
        table["prob_all"] = prob
        table["abnormal"] = (table["prob_all"] >= settings["abnormal_threshold"]).astype(int)
        tables.append(table)
        log.info("%s: %d patches of %d px, %d abnormal", slide, len(table), patch_size, int(table["abnormal"].sum()))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=PATCH_COLUMNS)
    write_table_atomic(table[PATCH_COLUMNS], patches_out)
    return table
