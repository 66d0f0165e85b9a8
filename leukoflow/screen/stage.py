"""Rule screen_cells: a group of smears -> their white cells, P(ALL) per cell, a verdict per image.

Per image: the scale (`pixel_size_um` when given, else the red cells: `slides.scale`), the white
cells found at that scale (`slides.whitecells`), the crop around each framed as the training
crops were (its red cells as large as theirs: the bundle's `training_scale`), every fold model on
all crops of the group in one batch, and the domain check (`screen.domain`). Images whose scale
is not measurable take the median scale of the group's images of the same size (one microscope,
one magnification), and say so.

Verdicts (our choice, written in the per-image table): `not assessed` when no white cell was
found, the scale cannot be trusted, or the image is out of domain (unless
`verdict_out_of_domain`); else `ALL` when at least `min_abnormal_cells` cells that are in domain
reach `abnormal_threshold`, `healthy` otherwise.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leukoflow.screen.files import CELL_COLUMNS, IMAGE_COLUMNS

log = logging.getLogger(__name__)

NUCLEUS_TO_RED = (0.6, 2.6)
"""Our choice: plausible median nucleus extent of the white cells, in red-cell diameters (measured
1.6-1.7 on the BCCD smears and the synthetic slides; a scale read off specks or lobes falls far
outside)."""
MAX_UPSAMPLING = 2.0  # our choice: a crop enlarged more than this invents the detail it is judged on
GALLERY_PX = 112


@dataclass
class ImageResult:
    id: str
    path: str
    width: int
    height: int
    rbc: float = float("nan")
    source: str = ""
    spread: float = float("nan")
    red_cells: int = 0
    reliable: bool = False
    nucleus_to_red: float = float("nan")
    crop_px: int = 0
    reasons: list[str] = field(default_factory=list)


def measure_scales(images: Mapping[str, np.ndarray], manifest: pd.DataFrame, sizes: Mapping[str, float]):
    """ImageResult per image with its scale; unreliable ones take their size group's median."""
    from leukoflow.slides.scale import red_cell_px_from_pixel_size, red_cell_scale

    results = {}
    rows = manifest.set_index("id")
    for image, rgb in images.items():
        result = ImageResult(image, rows.at[image, "path"], rgb.shape[1], rgb.shape[0])
        if image in sizes:
            result.rbc, result.source, result.reliable = red_cell_px_from_pixel_size(sizes[image]), "pixel size", True
        else:
            scale = red_cell_scale(rgb)
            result.rbc, result.spread, result.red_cells = scale.diameter_px, scale.spread, scale.red_cells
            result.source, result.reliable = "red cells", scale.reliable
        results[image] = result
    for result in results.values():
        if result.reliable:
            continue
        peers = [
            r.rbc
            for r in results.values()
            if r.reliable and r.source == "red cells" and (r.width, r.height) == (result.width, result.height)
        ]
        if len(peers) >= 2:
            result.rbc, result.reliable = float(np.median(peers)), True
            result.source = f"median of {len(peers)} {result.width}x{result.height} images of its group"
        else:
            result.reasons.append(f"scale not measurable ({result.red_cells} red cells found)")
    return results


def screen_group(
    *,
    manifest: pd.DataFrame,
    images: Sequence[str],
    bundle,
    settings: Mapping,
    pixel_sizes: Mapping[str, float],
    cells_out: str,
    images_out: str,
    gallery_out: str,
    files_dir: str,
    device=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Screen one group of images (see the module docstring); writes its cell and image tables,
    the small crops of its abnormal cells for the review page, and each image's overlay and
    GeoJSON under `files_dir/overlays` and `files_dir/geojson`."""
    import torch

    from leukoflow.core.crops import extract_patches, patch_boxes
    from leukoflow.core.images import resize_batch
    from leukoflow.core.io import read_rgb, write_table_atomic
    from leukoflow.inference import predict_with_features
    from leukoflow.runtime.progress import Progress
    from leukoflow.screen.domain import feature_ratio, load_domain, stain_statistics
    from leukoflow.slides.whitecells import FinderSettings, find_white_cells

    rows = manifest.set_index("id")
    present = [image for image in images if image in rows.index]
    decoded = {image: read_rgb(rows.at[image, "path"]) for image in present}
    results = measure_scales(decoded, manifest, pixel_sizes)
    scale = bundle.training_scale
    input_size = int(bundle.manifest["input_size"])
    finder = FinderSettings(nucleus_threshold=float(settings["nucleus_threshold"]))
    stain, feature_stats = load_domain(bundle.path("domain.npz"))
    models = bundle.models()

    cell_tables, crops, owners = [], [], []
    progress = Progress("find white cells", len(present), log, unit="images")
    for image, rgb in decoded.items():
        result = results[image]
        table = pd.DataFrame(columns=CELL_COLUMNS)
        if math.isfinite(result.rbc):
            cells = find_white_cells(rgb, result.rbc, finder)
            side = max(8, int(round(scale["frame_px"] * result.rbc / scale["red_cell_px"])))
            result.crop_px = side
            if len(cells):
                boxes = patch_boxes(cells.centres, rgb.shape[:2], size=side)
                crops.append(resize_batch(extract_patches(rgb, boxes, size=side), input_size))
                owners += [image] * len(cells)
                table = pd.DataFrame(
                    {
                        "image": image,
                        "cell": np.arange(1, len(cells) + 1),
                        "x": np.round(cells.centres[:, 0], 1),
                        "y": np.round(cells.centres[:, 1], 1),
                        "x0": cells.boxes[:, 0],
                        "y0": cells.boxes[:, 1],
                        "x1": cells.boxes[:, 2],
                        "y1": cells.boxes[:, 3],
                        "diameter_px": np.round(cells.diameters, 1),
                        "lobes": cells.lobes,
                    }
                )
                result.nucleus_to_red = float(np.median(cells.nucleus_extent)) / result.rbc
        cell_tables.append(table)
        progress.advance()
    cells = pd.concat(cell_tables, ignore_index=True) if cell_tables else pd.DataFrame(columns=CELL_COLUMNS)
    batch = torch.cat(crops) if crops else torch.zeros((0, 3, input_size, input_size), dtype=torch.uint8)

    probabilities, ratios = [], []
    for model, stats in zip(models, feature_stats):
        normalisation = getattr(model, "normalisation", "imagenet")
        proba, features = predict_with_features(model, batch, device=device, normalisation=normalisation)
        probabilities.append(proba[:, 1])
        ratios.append(feature_ratio(stats, features))
    probabilities = np.stack(probabilities) if len(batch) else np.zeros((len(models), 0))
    cells["p_all"] = np.round(probabilities.mean(axis=0), 4)
    cells["p_all_sd"] = np.round(probabilities.std(axis=0), 4)
    cells["feature_ratio"] = np.round(np.mean(ratios, axis=0), 3) if len(batch) else []
    cells["abnormal"] = cells["p_all"] >= float(settings["abnormal_threshold"])
    per_cell_stain = stain_statistics(batch.numpy())

    image_rows = []
    owners = np.asarray(owners)
    for image in present:
        result = results[image]
        mine = cells["image"] == image
        image_rows.append(_image_row(result, cells, mine, per_cell_stain[owners == image], stain, settings, input_size))
    images_table = pd.DataFrame(image_rows, columns=IMAGE_COLUMNS)
    in_domain = dict(zip(images_table["image"], images_table["in_domain"]))
    cells["in_domain"] = cells["image"].map(in_domain).fillna(False).astype(bool) & (cells["feature_ratio"] <= 1.0)
    write_table_atomic(cells.reindex(columns=CELL_COLUMNS), cells_out)
    write_table_atomic(images_table, images_out)
    _save_gallery(cells, batch, gallery_out)
    from pathlib import Path

    from leukoflow.screen.outputs import write_image_outputs

    overlay_dir, geojson_dir = Path(files_dir) / "overlays", Path(files_dir) / "geojson"
    overlay_dir.mkdir(parents=True, exist_ok=True)
    geojson_dir.mkdir(parents=True, exist_ok=True)
    for row in images_table.itertuples():
        mine = cells[cells["image"] == row.image]
        write_image_outputs(
            decoded[row.image], row.image, mine, row, float(settings["abnormal_threshold"]), overlay_dir, geojson_dir
        )
    for row in images_table.itertuples():
        log.info(
            "%s: %s; %d white cells, %d abnormal, max P(ALL) %s; scale %.1f px per red cell (%s)%s",
            row.image,
            row.verdict,
            row.white_cells,
            row.abnormal_cells,
            row.max_p_all,
            row.scale_px_per_rbc,
            row.scale_source,
            f"; {row.reason}" if row.reason else "",
        )
    return cells, images_table


def _image_row(result, cells, mine, cell_stain, stain, settings, input_size) -> dict:
    from leukoflow.screen.domain import stain_outside

    reasons = list(result.reasons)
    mine_cells = cells[mine]
    n_cells = int(mine.sum())
    ratio, crop_px = result.nucleus_to_red, result.crop_px
    outside: list[str] = []
    median_ratio = float("nan")
    if math.isfinite(result.rbc) and n_cells:
        if not NUCLEUS_TO_RED[0] <= ratio <= NUCLEUS_TO_RED[1]:
            reasons.append(f"scale cross-check failed: white-cell nuclei span {ratio:.2f} red cells")
        if input_size / crop_px > MAX_UPSAMPLING:
            reasons.append(f"resolution too low: cells would be enlarged {input_size / crop_px:.1f}x")
        outside = stain_outside(stain, np.median(cell_stain, axis=0))
        if outside:
            reasons.append("stain outside the training range (" + "; ".join(outside[:3]) + ")")
        median_ratio = float(np.median(mine_cells["feature_ratio"]))
        if median_ratio > 1.0:
            reasons.append(
                f"cells unlike the training crops (median feature distance {median_ratio:.2f}x the 99th percentile)"
            )
    elif math.isfinite(result.rbc):
        reasons.append("no white cell found")
    in_domain = not reasons
    abnormal = mine_cells["abnormal"] & (mine_cells["feature_ratio"] <= 1.0)
    if not n_cells or not math.isfinite(result.rbc):
        verdict = "not assessed"
    elif not in_domain and not settings["verdict_out_of_domain"]:
        verdict = "not assessed"
    else:
        counted = abnormal if in_domain else mine_cells["abnormal"]
        verdict = "ALL" if int(counted.sum()) >= int(settings["min_abnormal_cells"]) else "healthy"
    return {
        "image": result.id,
        "width": result.width,
        "height": result.height,
        "scale_px_per_rbc": round(result.rbc, 2) if math.isfinite(result.rbc) else float("nan"),
        "scale_source": result.source,
        "white_cells": n_cells,
        "abnormal_cells": int(mine_cells["abnormal"].sum()),
        "max_p_all": round(float(mine_cells["p_all"].max()), 4) if n_cells else float("nan"),
        "verdict": verdict,
        "in_domain": in_domain,
        "reason": "; ".join(reasons),
        "path": result.path,
        "scale_spread": result.spread,
        "red_cells": result.red_cells,
        "pixel_size_um": round(7.5 / result.rbc, 4) if math.isfinite(result.rbc) else float("nan"),
        "nucleus_to_red": round(ratio, 3) if math.isfinite(ratio) else float("nan"),
        "crop_px": crop_px,
        "stain_outside": "; ".join(outside),
        "median_feature_ratio": round(median_ratio, 3) if math.isfinite(median_ratio) else float("nan"),
    }


def _save_gallery(cells: pd.DataFrame, batch, out: str) -> None:
    """Small crops (uint8 HxWx3) of the cells at or above the threshold, keyed `<image>/<cell>`."""
    import torch

    from leukoflow.core.images import resize_batch
    from leukoflow.core.io import atomic_path

    chosen = np.flatnonzero(cells["abnormal"].to_numpy(bool))
    arrays = {}
    if len(chosen):
        small = resize_batch(batch[torch.as_tensor(chosen)], GALLERY_PX).permute(0, 2, 3, 1).contiguous().numpy()
        for index, crop in zip(chosen, small):
            arrays[f"{cells.at[index, 'image']}/{int(cells.at[index, 'cell'])}"] = crop
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
