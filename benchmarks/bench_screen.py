"""Benchmark of screening on real smears: the BCCD set (292 normal-blood smears, 640x480, another
microscope, boxes around every white cell, red cell and platelet; ../shared/data/bccd).

Prints, over all images or every k-th (`--every`):
  white cells   recall and precision of the finder against the WBC boxes (a detection counts
                when its centre lies in a box), detections per detected white cell;
  scale         the estimate over the median side of the red-cell boxes wholly inside the image:
                median ratio, median relative error, and the same for the earlier estimate the
                ALL-IDB1 stage used (largest inscribed nucleus radius / 0.75, converted to red cells
                by WHITE_PER_RED), which read neutrophil lobes as nuclei;
  verdicts      with a model bundle (`--bundle`, default results/models of the demo): the share of
                these normal smears called ALL, called ALL while in domain, out of domain, not
                assessed, and their P(ALL);
  throughput    images/s of the whole group job (decode, scale, cells, every fold model on all
                crops of a group in one batch, domain check, overlays, GeoJSON), peak memory, and
                the same crops scored one cell per forward pass, in channels-first and
                channels-last layouts, beside it.

The finder's and the scale's settings were chosen on the even-numbered images; the odd-numbered
half is reported separately as the held-out check.

    python benchmarks/bench_screen.py [--every 1] [--bundle results/models] [--group 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from leukoflow.core.io import read_rgb  # noqa: E402
from leukoflow.data.readers.voc import box_array, read_voc_boxes  # noqa: E402

BCCD = REPO.parent / "shared" / "data" / "bccd"


def red_box_side(boxes: np.ndarray, width: int, height: int) -> float:
    inside = (boxes[:, 0] > 2) & (boxes[:, 1] > 2) & (boxes[:, 2] < width - 3) & (boxes[:, 3] < height - 3)
    boxes = boxes[inside]
    return float(np.median(((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])) / 2)) if len(boxes) else np.nan


def nucleus_estimate(rgb: np.ndarray) -> float:
    """The ALL-IDB1 stage's earlier white-cell estimate (before this benchmark), in red cells:
    median largest inscribed radius of eosin-mask components above half the 90th percentile."""
    from scipy import ndimage

    from leukoflow.core.stain import eosin_mask
    from leukoflow.slides.scale import WHITE_PER_RED

    mask = eosin_mask(rgb[::2, ::2], None)
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(mask, structure=np.ones((3, 3), bool), iterations=2))
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.nan
    radii = np.asarray(ndimage.maximum(ndimage.distance_transform_edt(mask), labels, np.arange(1, n + 1)))
    radii = radii[radii >= 3]
    if not len(radii):
        return np.nan
    nuclei = radii[radii >= 0.5 * np.percentile(radii, 90)]
    return 2 * 2 * float(np.median(nuclei)) / 0.75 / WHITE_PER_RED


def finder_metrics(cells: pd.DataFrame, names: list[str]) -> dict:
    found = hit_boxes = boxes_total = detections = inside = per_cell = 0
    for name in names:
        wbc = box_array(read_voc_boxes(BCCD / "Annotations" / f"{name}.xml", "WBC"))
        mine = cells[cells["image"] == name]
        x, y = mine["x"].to_numpy()[:, None], mine["y"].to_numpy()[:, None]
        within = (x >= wbc[:, 0]) & (x <= wbc[:, 2]) & (y >= wbc[:, 1]) & (y <= wbc[:, 3])
        boxes_total += len(wbc)
        hit_boxes += int(within.any(axis=0).sum())
        per_cell += int(within.sum(axis=0)[within.any(axis=0)].sum())
        detections += len(mine)
        inside += int(within.any(axis=1).sum())
        found += 1
    return {
        "recall": hit_boxes / max(boxes_total, 1),
        "precision": inside / max(detections, 1),
        "detections_per_white_cell": per_cell / max(hit_boxes, 1),
        "white_cells": boxes_total,
        "detections": detections,
    }


def forward_throughput(bundle, crops, device="cpu") -> dict:
    """Crops scored by the first fold model: all in batches of 64 (as the job does) and one per
    forward pass (the straightforward loop), channels-first and channels-last."""
    import torch

    from leukoflow.core.images import normalisation_constants, normalise_batch

    model = bundle.models()[0].eval()
    scale, shift = normalisation_constants(device, getattr(model, "normalisation", "imagenet"))
    out = {}
    few = crops[: min(len(crops), 32)]
    for _ in range(3):  # layouts alternate, best of three: the first pass pays the warm-up
        for layout in ("channels_first", "channels_last"):
            memory = torch.channels_last if layout == "channels_last" else torch.contiguous_format
            net = model.to(memory_format=memory)
            with torch.inference_mode():
                start = time.perf_counter()
                for first in range(0, len(crops), 64):
                    net(normalise_batch(crops[first : first + 64], scale, shift).contiguous(memory_format=memory))
                rate = len(crops) / (time.perf_counter() - start)
                out[f"batched_{layout}"] = max(out.get(f"batched_{layout}", 0.0), rate)
                start = time.perf_counter()
                for index in range(len(few)):
                    net(normalise_batch(few[index : index + 1], scale, shift).contiguous(memory_format=memory))
                rate = len(few) / (time.perf_counter() - start)
                out[f"one_by_one_{layout}"] = max(out.get(f"one_by_one_{layout}", 0.0), rate)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=int, default=1, help="use every k-th image (1: all 292)")
    parser.add_argument("--bundle", default=str(REPO / "results" / "models"))
    parser.add_argument("--group", type=int, default=8, help="images per group job")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not (BCCD / "images.txt").is_file():
        sys.exit(f"the BCCD smears are not at {BCCD}")
    import torch

    torch.set_num_threads(args.threads)
    from leukoflow.bundle import load_bundle
    from leukoflow.screen.files import group_ids
    from leukoflow.screen.stage import screen_group
    from leukoflow.slides.scale import red_cell_scale

    names = (BCCD / "images.txt").read_text().split()[:: args.every]
    manifest = pd.DataFrame({"id": names, "path": [str(BCCD / "JPEGImages" / f"{n}.jpg") for n in names]})

    # Scale against the red-cell boxes, beside the earlier nucleus-based estimate.
    rows = []
    start = time.perf_counter()
    for name, path in zip(manifest["id"], manifest["path"]):
        rgb = read_rgb(path)
        truth = red_box_side(box_array(read_voc_boxes(BCCD / "Annotations" / f"{name}.xml", "RBC")), 640, 480)
        scale = red_cell_scale(rgb)
        rows.append((name, truth, scale.diameter_px, scale.reliable, nucleus_estimate(rgb)))
    scale_seconds = time.perf_counter() - start
    scales = pd.DataFrame(rows, columns=["image", "box_side", "estimate", "reliable", "nucleus_estimate"])
    scales["held_out"] = [int(n.split("_")[-1]) % 2 == 1 for n in scales["image"]]

    def scale_line(table: pd.DataFrame, column: str) -> str:
        ratio = (table[column] / table["box_side"]).dropna()
        error = (ratio - 1).abs()
        return (
            f"median ratio {ratio.median():.3f} (IQR {ratio.quantile(0.25):.3f}-{ratio.quantile(0.75):.3f}), "
            f"median |error| {100 * error.median():.1f}%, within 10%: {100 * (error <= 0.1).mean():.0f}%, "
            f"within 25%: {100 * (error <= 0.25).mean():.0f}% ({len(ratio)} images)"
        )

    print(f"BCCD: {len(names)} images (every {args.every}); red-cell boxes inside the image as the truth")
    print(f"scale, red cells (ours):      {scale_line(scales, 'estimate')}")
    print(f"  held-out odd half:          {scale_line(scales[scales['held_out']], 'estimate')}")
    print(f"  reliable by its own check:  {100 * scales['reliable'].mean():.0f}% of images")
    print(f"scale, nucleus estimate (was): {scale_line(scales, 'nucleus_estimate')}")
    print(f"scale: {len(names) / scale_seconds:.1f} images/s for both estimates")

    bundle = load_bundle(args.bundle)
    settings = {
        "abnormal_threshold": 0.5,
        "min_abnormal_cells": 1,
        "verdict_out_of_domain": False,
        "nucleus_threshold": 0.12,
    }
    cells_tables, image_tables = [], []
    resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for index, group in enumerate(group_ids(names, args.group)):
            out = Path(tmp) / f"group{index}"
            cells, images = screen_group(
                manifest=manifest,
                images=group,
                bundle=bundle,
                settings=settings,
                pixel_sizes={},
                cells_out=str(out / "cells.tsv"),
                images_out=str(out / "images.tsv"),
                gallery_out=str(out / "gallery.npz"),
                files_dir=str(out / "files"),
            )
            cells_tables.append(cells)
            image_tables.append(images)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cells = pd.concat(cells_tables, ignore_index=True)
    images = pd.concat(image_tables, ignore_index=True)

    for label, subset in (("all", names), ("held-out odd half", [n for n in names if int(n.split("_")[-1]) % 2])):
        m = finder_metrics(cells, subset)
        print(
            f"white cells ({label}): recall {m['recall']:.3f}, precision {m['precision']:.3f}, "
            f"{m['detections_per_white_cell']:.3f} detections per white cell ({m['white_cells']} boxes, "
            f"{m['detections']} detections)"
        )
    called = images["verdict"] == "ALL"
    print(
        f"verdicts with the bundle at {args.bundle} ({bundle.data} training data): "
        f"ALL {100 * called.mean():.1f}%, ALL and in domain {100 * (called & images['in_domain']).mean():.1f}%, "
        f"out of domain {100 * (~images['in_domain'].astype(bool)).mean():.1f}%, "
        f"not assessed {100 * (images['verdict'] == 'not assessed').mean():.1f}%, healthy "
        f"{100 * (images['verdict'] == 'healthy').mean():.1f}%"
    )
    print(
        f"  P(ALL) of the cells: median {cells['p_all'].median():.3f}, share >= 0.5 {100 * (cells['p_all'] >= 0.5).mean():.1f}% "
        "(what the verdicts would be without the domain check)"
    )
    reasons = images["reason"].fillna("").str.split(" \\(|;", regex=True).str[0].value_counts().head(4)
    print("  first reasons: " + "; ".join(f"{k or '(in domain)'}: {v}" for k, v in reasons.items()))
    print(f"screening: {len(names) / seconds:.2f} images/s, {seconds:.1f} s in all, peak RSS {peak_mb:.0f} MB")

    import torch

    from leukoflow.core.crops import extract_patches, patch_boxes
    from leukoflow.core.images import resize_batch

    crops = []
    for name, path in list(zip(manifest["id"], manifest["path"]))[:120]:
        mine = cells[cells["image"] == name]
        if len(mine):
            rgb = read_rgb(path)
            side = int(images.set_index("image").at[name, "crop_px"])
            boxes = patch_boxes(mine[["x", "y"]].to_numpy(), rgb.shape[:2], size=side)
            crops.append(resize_batch(extract_patches(rgb, boxes, size=side), int(bundle.manifest["input_size"])))
    rates = forward_throughput(bundle, torch.cat(crops))
    print(
        f"forward, first fold model, {sum(len(c) for c in crops)} crops: "
        + ", ".join(f"{k.replace('_', ' ')} {v:.1f}/s" for k, v in rates.items())
    )


if __name__ == "__main__":
    main()
