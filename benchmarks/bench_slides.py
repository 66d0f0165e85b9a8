"""Benchmark of the ALL-IDB1 slide stage: what a job costs before it does any work, what the stage
costs per slide, and the network passes it cannot avoid, side by side in one run.

  fixed cost   each slide rule's script run as Snakemake runs it (a fresh Python process with the
               script's imports, its input files read, its network loaded) on an EMPTY group of
               slides: the price of one job, paid once per group (`allidb1.slides.group_size`).
  per slide    in one process, per resolution (2592x1944, 1712x1368) and per method: heatmap
               (decode, resize, forward, scale), segmentation (decode, mask, clean-up, centroids,
               localisation measures, thumbnails) and patch scoring (decode, cut, resize, forward).
  unavoidable  the bare forward passes of the same slide: the trunk over the whole slide at its
               working scale, and the slide's patch batch through the whole network.

    python benchmarks/bench_slides.py [--input-size 257] [--threads 2] [--device cpu] [--repeat 2]

--input-size is the network input (257: the paper's; the demo uses a smaller one). Timings are the
best of --repeat runs. On a machine shared with other jobs, figures are noisy: measure on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow" / "scripts" / "allidb1"
RESOLUTIONS = ((2592, 1944), (1712, 1368))
# Emulates Snakemake's script preamble: the `snakemake` object the script reads, built from JSON.
PREAMBLE = """
import json, sys, types
import snakemake.io  # what Snakemake's own preamble imports to unpickle its object
spec = json.loads(sys.argv[1])
class Named(list):
    def __init__(self, items):
        super().__init__(v for value in items.values() for v in (value if isinstance(value, list) else [value]))
        self.__dict__.update(items)
snakemake = types.SimpleNamespace(
    input=Named(spec["input"]), output=Named(spec["output"]), params=types.SimpleNamespace(**spec["params"]),
    wildcards=types.SimpleNamespace(items=lambda: spec["wildcards"].items(), **spec["wildcards"]),
    log=[spec["log"]], threads=spec["threads"], resources=types.SimpleNamespace(gpu=0), rule=spec["rule"],
)
exec(compile(open(spec["script"]).read(), spec["script"], "exec"))
"""


def best_of(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def export(model, path: Path) -> str:
    from leukoflow.inference import EXPORT_FORMAT

    payload = {
        "format": EXPORT_FORMAT,
        "architecture": f"{type(model).__module__}:{type(model).__qualname__}",
        "arch_kwargs": model.arch_kwargs,
        "state_dict": model.state_dict(),
    }
    torch.save(payload, path)
    return str(path)


def slide_settings(method: str) -> dict:
    import yaml
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    from leukoflow.allidb1.methods import method_settings

    return method_settings(config["allidb1"]["slides"], method)


def fixed_costs(tmp: Path, model_path: str, cnn: dict, threads: int, repeat: int) -> pd.DataFrame:
    """Each slide script on an empty group, in a fresh process, as a Snakemake job runs it."""
    settings = slide_settings("improved")
    manifest = tmp / "manifest.tsv"
    pd.DataFrame(columns=["id", "path", "label", "class_name", "width", "height", "annotation"]).to_csv(
        manifest, sep="\t", index=False
    )
    sizes, centroids = tmp / "sizes.tsv", tmp / "centroids.tsv"
    pd.DataFrame(columns=["slide", "width", "height", "estimate_px", "nuclei", "diameter_px", "source"]).to_csv(
        sizes, sep="\t", index=False
    )
    pd.DataFrame(columns=["slide", "x", "y"]).to_csv(centroids, sep="\t", index=False)
    polarity = tmp / "polarity.json"
    polarity.write_text(json.dumps({"polarity": 1}))
    from leukoflow.allidb1.files import save_npz

    save_npz({}, str(tmp / "heat.npz"))
    common = {
        "slides": [],
        "settings": settings,
        "cnn": cnn,
        "compute": {"accelerator": "cpu", "allow_cpu_fallback": True},
    }
    jobs = {
        "cell_size": ({"manifest": str(manifest)}, {"cell_sizes": str(tmp / "o_sizes.tsv")}),
        "heatmap": (
            {"manifest": str(manifest), "model": model_path, "cell_sizes": str(sizes), "polarity": str(polarity)},
            {"heatmaps": str(tmp / "o_heat.npz")},
        ),
        "segment": (
            {"manifest": str(manifest), "heatmaps": str(tmp / "heat.npz"), "cell_sizes": str(sizes), "truth": []},
            {key: str(tmp / f"o_{key}") for key in ("centroids", "thumbs", "localisation", "histograms")},
        ),
        "classify_patches": (
            {"manifest": str(manifest), "centroids": str(centroids), "cell_sizes": str(sizes), "models": [model_path]},
            {"patches": str(tmp / "o_patches.tsv")},
        ),
    }
    rows = []
    for name, (inputs, outputs) in jobs.items():
        spec = {
            "script": str(SCRIPTS / f"{name}.py"),
            "input": inputs,
            "output": outputs,
            "params": common,
            "wildcards": {"method": "improved", "group": "1"},
            "log": str(tmp / f"{name}.log"),
            "threads": threads,
            "rule": f"allidb1_{name}",
        }
        command = [sys.executable, "-c", PREAMBLE, json.dumps(spec)]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}

        def run(command=command, env=env):
            subprocess.run(command, check=True, env=env, capture_output=True)

        seconds, _ = best_of(run, repeat)
        rows.append({"job": f"allidb1_{name}", "empty_job_s": seconds})
    return pd.DataFrame(rows)


def per_slide(tmp: Path, model_path: str, cnn: dict, repeat: int) -> pd.DataFrame:
    """The stage per slide (both methods) beside its unavoidable forward passes."""
    from leukoflow.allidb1.cellsize import estimate_cell_diameter
    from leukoflow.allidb1.localisation import slide_localisation
    from leukoflow.allidb1.stages import (
        classify_patches,
        segment_slide,
        segment_step,
        slide_scale,
        thumbnail,
        upsample,
    )
    from leukoflow.core.crops import extract_patches, patch_boxes
    from leukoflow.core.images import normalisation_constants, normalise_batch, resize_batch, resize_image
    from leukoflow.core.io import read_rgb
    from leukoflow.data.synthetic import write_allidb1
    from leukoflow.inference import load_exported
    from leukoflow.slides.heatmap import excitation_map

    model = load_exported(model_path)
    rows = []
    for width, height in RESOLUTIONS:
        data = write_allidb1(
            tmp / f"s{width}", n_all=1, n_healthy=0, resolutions=[(width, height)], layout="flat", seed=1
        )
        path = next(data.glob("*.jpg"))
        decode_s, rgb = best_of(lambda: read_rgb(path), repeat)
        size_s, (diameter, _) = best_of(lambda: estimate_cell_diameter(rgb), repeat)
        for method in ("as_published", "improved"):
            settings = slide_settings(method)
            scale = slide_scale(settings, cnn, diameter)

            def heatmap():
                return excitation_map(model.features, resize_image(read_rgb(path), scale), normalisation="imagenet")

            def segment(small):
                step = segment_step(settings, diameter)  # what rule allidb1_segment does per slide
                image = read_rgb(path)[::step, ::step]
                heat = upsample(small, image.shape[:2])
                result = segment_slide(image, heat, settings, diameter / step)
                slide_localisation(heat, result["eosin"], np.zeros((0, 2)), diameter / step)
                for array in (image, heat, result["eosin"], result["heat_mask"], result["mask"]):
                    thumbnail(array)
                result["centroids"] = result["centroids"] * step
                return result

            heat_s, small = best_of(heatmap, repeat)
            seg_s, result = best_of(lambda: segment(small.astype(np.float16)), repeat)
            from leukoflow.allidb1.methods import pixel_sizes

            patch = pixel_sizes(settings, diameter)["patch_size"]
            cls_s, (boxes, _) = best_of(
                lambda: classify_patches(read_rgb(path), result["centroids"], [model], patch, cnn["input_size"]), repeat
            )
            scale_shift = normalisation_constants("cpu", "imagenet")
            slide_batch = normalise_batch(
                torch.from_numpy(resize_image(rgb, scale)).permute(2, 0, 1)[None].contiguous(), *scale_shift
            )
            patches = normalise_batch(
                resize_batch(
                    extract_patches(rgb, patch_boxes(result["centroids"], rgb.shape[:2], patch)), cnn["input_size"]
                ),
                *scale_shift,
            )
            with torch.inference_mode():
                trunk_s, _ = best_of(lambda: model.features(slide_batch), repeat)
                patch_s, _ = best_of(lambda: model(patches) if len(patches) else None, repeat)
            stage = heat_s + seg_s + cls_s
            bare = trunk_s + patch_s
            rows.append(
                {
                    "slide": f"{width}x{height}",
                    "method": method,
                    "scale": round(scale, 3),
                    "patches": len(boxes),
                    "decode_s": decode_s,
                    "cell_size_s": size_s,
                    "heatmap_s": heat_s,
                    "segment_s": seg_s,
                    "classify_s": cls_s,
                    "stage_s": stage,
                    "bare_trunk_s": trunk_s,
                    "bare_patches_s": patch_s,
                    "stage_over_bare": stage / bare if bare else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-size", type=int, default=257)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-fixed", action="store_true", help="per-slide figures only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from leukoflow.nets.ghosh import GhoshNet

    cnn = {"input_size": args.input_size, "frame": 257}
    pd.set_option("display.width", 220)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        model_path = export(GhoshNet(input_size=args.input_size, hidden=[256, 256]).eval(), tmp / "model.pt")
        if not args.skip_fixed:
            print("Fixed cost of one job (empty group of slides, fresh process, best of", args.repeat, "runs):")
            print(fixed_costs(tmp, model_path, cnn, args.threads, args.repeat).round(2).to_string(index=False))
            print()
        print("Slide stage per slide beside its unavoidable forward passes (seconds):")
        print(per_slide(tmp, model_path, cnn, args.repeat).round(3).to_string(index=False))
    print(f"threads={args.threads} input_size={args.input_size} torch={torch.__version__} cpus={os.cpu_count()}")


if __name__ == "__main__":
    main()
