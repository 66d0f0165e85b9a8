"""Benchmark of the ALL-IDB2 -> ALL-IDB1 provenance search at the real sizes.

Writes synthetic images of the real dimensions (textured noise, not cells: the search's cost does
not depend on the content): slides of 2592x1944 and 1712x1368 as JPEGs, 257x257 crops as TIFFs
(ten of them at the real odd sizes), most cut from a slide with a little noise, the rest from
none. Then prints the time of `allidb2.provenance.locate_crops` for all crops in all slides, its
peak memory and how many crops it placed correctly, beside a straightforward implementation
(scikit-image's `match_template`, full resolution, one crop and one slide at a time) timed on a
few pairs and extrapolated to every pair. Usage:
    python benchmarks/bench_provenance.py [--slides 108] [--crops 260] [--threads 2] [--naive-pairs 4]
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

SIZES = ((2592, 1944), (1712, 1368))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def textured(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth RGB texture with blobs at cell scale (bilinear upsampling of coarse noise) and a
    little pixel noise: smooth like a smear, so the JPEG slides keep their detail as real ones do."""
    from PIL import Image

    coarse = rng.normal(150, 25, (height // 16 + 1, width // 16 + 1, 3)).clip(0, 255).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.clip(smooth + rng.normal(0, 2, smooth.shape), 0, 255).astype(np.uint8)


def write_data(root: Path, n_slides: int, n_crops: int, seed: int = 0):
    import tifffile
    from PIL import Image

    from leukoflow.data.synthetic.writers import ALLIDB2_ODD_SIZES

    rng = np.random.default_rng(seed)
    slides, crops, truth = [], [], []
    sizes = [SIZES[i % 2] for i in range(n_slides)]
    odd = list(ALLIDB2_ODD_SIZES.values())
    from_slide = rng.random(n_crops) < 0.8
    owner = rng.integers(0, n_slides, n_crops)
    for index, (width, height) in enumerate(sizes):
        rgb = textured(rng, height, width)
        path = root / f"Im{index + 1:03d}_{index % 2}.jpg"
        Image.fromarray(rgb).save(path, quality=90)
        slides.append(dict(id=path.stem, path=str(path), width=width, height=height))
        for crop in np.flatnonzero(from_slide & (owner == index)):
            crop_width, crop_height = odd[crop] if crop < len(odd) else (257, 257)
            x, y = int(rng.integers(0, width - crop_width)), int(rng.integers(0, height - crop_height))
            piece = rgb[y : y + crop_height, x : x + crop_width].astype(float) + rng.normal(
                0, 2, (crop_height, crop_width, 3)
            )
            crops.append((crop, np.clip(np.rint(piece), 0, 255).astype(np.uint8)))
            truth.append(dict(crop=f"Im{crop + 1:03d}_{int(crop % 2)}", slide=path.stem, x=x, y=y))
    for crop in np.flatnonzero(~from_slide):
        crops.append((crop, textured(rng, 257, 257)))
    rows = []
    for crop, rgb in sorted(crops, key=lambda item: item[0]):
        path = root / f"Im{crop + 1:03d}_{int(crop % 2)}.tif"
        tifffile.imwrite(path, rgb, photometric="rgb", metadata=None)
        rows.append(dict(id=path.stem, path=str(path), label=int(crop % 2)))
    return pd.DataFrame(rows), pd.DataFrame(slides), pd.DataFrame(truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slides", type=int, default=108)
    parser.add_argument("--crops", type=int, default=260)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--naive-pairs", type=int, default=4)
    args = parser.parse_args()
    # The search logs its coarse and total times.
    logging.basicConfig(format="  %(message)s")
    logging.getLogger("leukoflow.allidb2.provenance").setLevel(logging.INFO)

    from skimage.feature import match_template

    from leukoflow.allidb2.provenance import MATCHED, ProvenanceSettings, locate_crops
    from leukoflow.core.io import read_rgb
    from leukoflow.core.ncc import to_grey

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        # Written by a child process, so this process's peak memory is the search's own.
        with ProcessPoolExecutor(1) as pool:
            crops, slides, truth = pool.submit(write_data, Path(folder), args.slides, args.crops).result()
        print(
            f"wrote {len(slides)} slides ({SIZES[0][0]}x{SIZES[0][1]} and {SIZES[1][0]}x{SIZES[1][1]} JPEG) and "
            f"{len(crops)} crops ({len(truth)} cut from a slide) in {time.perf_counter() - start:.0f} s"
        )
        rss_before = peak_rss_mib()
        start = time.perf_counter()
        table = locate_crops(crops, slides, ProvenanceSettings(), workers=args.threads)
        elapsed = time.perf_counter() - start
        found = table.set_index("crop").loc[truth["crop"]]
        right = found["slide"].to_numpy() == truth["slide"].to_numpy()
        right &= (found["x"].to_numpy() == truth["x"].to_numpy()) & (found["y"].to_numpy() == truth["y"].to_numpy())
        matched = int((found["verdict"] == MATCHED).sum())
        others = table[~table["crop"].isin(truth["crop"])]
        print(
            f"locate_crops, {len(crops)} crops x {len(slides)} slides, {args.threads} threads: {elapsed:.1f} s "
            f"({elapsed / len(slides):.2f} s per slide, JPEG/TIFF decoding included); peak RSS "
            f"{peak_rss_mib():.0f} MiB (after imports {rss_before:.0f} MiB)"
        )
        print(
            f"  placed exactly: {int(right.sum())} of {len(truth)} planted crops ({matched} 'matched', lowest score "
            f"{found['score'].min():.4f}); "
            f"{int((others['verdict'] == 'not found').sum())} of {len(others)} crops from no slide not found"
        )

        # Straightforward: full-resolution match_template of every crop in every slide.
        pairs = [(i % len(crops), i % len(slides)) for i in range(args.naive_pairs)]
        start = time.perf_counter()
        for crop, slide in pairs:
            match_template(to_grey(read_rgb(slides["path"].iloc[slide])), to_grey(read_rgb(crops["path"].iloc[crop])))
        per_pair = (time.perf_counter() - start) / len(pairs)
        total = per_pair * len(crops) * len(slides)
        print(
            f"straightforward (skimage match_template per pair, full resolution): {per_pair:.2f} s per pair "
            f"over {len(pairs)} pairs -> {total / 3600:.1f} h for {len(crops)} x {len(slides)} "
            f"({total / elapsed:.0f}x slower)"
        )


if __name__ == "__main__":
    main()
