"""Benchmark of the ALL-IDB1 slide stage at both real resolutions.

Prints, per resolution: the whole slide stage (heatmap + segmentation + centroids + patch
classification) beside the bare conv forward pass on the same slide, the HED conversion against
scikit-image's float64 rgb2hed, and peak memory. Usage:
    python benchmarks/bench_slides.py [--scale 1.0] [--threads 2] [--device cpu]
--scale is the working scale input_size/frame (1.0 = the paper's 257-pixel network input).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from skimage.color import rgb2hed

    from leukoflow.allidb1.heatmap import excitation_map, image_to_batch, imagenet_normalise
    from leukoflow.allidb1.stages import classify_patches, resize_image, segment_slide
    from leukoflow.core.io import read_rgb
    from leukoflow.core.stain import rgb_to_hed
    from leukoflow.data.synthetic import write_allidb1
    from leukoflow.nets.alexnet import AlexNetClassifier
    from leukoflow.training.fit import EXPORT_FORMAT

    settings = {
        "heat_threshold": 0.5,
        "eosin_threshold": None,
        "min_area": 1500,
        "opening_radius": 2,
        "max_hole_area": 2000,
        "centroid_cost": "euclidean",
        "min_prominence": 1.0,
        "closing_radius": 4,
        "min_distance": 40,
    }
    input_size = max(65, round(257 * args.scale))
    model = AlexNetClassifier(input_size=input_size).eval()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "model.pt"
        torch.save(
            {
                "format": EXPORT_FORMAT,
                "architecture": "leukoflow.nets.alexnet:AlexNetClassifier",
                "arch_kwargs": model.arch_kwargs,
                "state_dict": model.state_dict(),
            },
            model_path,
        )
        for width, height in ((2592, 1944), (1712, 1368)):
            data = write_allidb1(
                Path(tmp) / f"s{width}", n_all=1, n_healthy=0, resolutions=[(width, height)], layout="flat", seed=1
            )
            rgb = read_rgb(next(data.glob("*.jpg")))
            small = resize_image(rgb, args.scale)
            batch = imagenet_normalise(image_to_batch(small)).to(args.device)
            features = model.features.to(args.device)
            with torch.inference_mode():
                bare, _ = timed(lambda: features(batch), repeat=2)
            heat_t, heat = timed(lambda: excitation_map(features, small, device=args.device), repeat=2)
            seg_t, (mask, centroids, _) = timed(lambda: segment_slide(rgb, heat.astype(np.float16), settings))
            cls_t, (boxes, prob) = timed(lambda: classify_patches(rgb, centroids, [model_path], 257, input_size))
            hed_ours, _ = timed(lambda: rgb_to_hed(rgb), repeat=2)
            hed_skimage, _ = timed(lambda: rgb2hed(rgb), repeat=2)
            rows.append(
                {
                    "resolution": f"{width}x{height}",
                    "network_input": f"{small.shape[1]}x{small.shape[0]}",
                    "bare_forward_s": bare,
                    "heatmap_s": heat_t,
                    "segment_s": seg_t,
                    "classify_s": cls_t,
                    "slide_stage_s": heat_t + seg_t + cls_t,
                    "patches": len(boxes),
                    "hed_float32_s": hed_ours,
                    "hed_skimage_s": hed_skimage,
                    "peak_rss_mib": peak_rss_mib(),
                }
            )
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    print(f"threads={args.threads} device={args.device} scale={args.scale} torch={torch.__version__}")


if __name__ == "__main__":
    main()
