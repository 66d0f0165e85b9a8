"""One prepared GPU check: correctness against the CPU and throughput beside the CPU, in one command.

    benchmarks/gpu_check.sh            # on a machine with a CUDA GPU (budget: 8 minutes on an H100)
    benchmarks/gpu_check.sh --dry      # anywhere: tiny sizes, CPU only, under a minute (CI runs it)

Parts, in order (each records into one JSON file, `--out`/gpu_check.json, and a short table,
gpu_check.md; a part that fails is recorded as failed and the rest still run):
  environment       torch, CUDA device, the packages found
  timm_parity       where timm imports: our Inception-ResNet-v2 (nets/inception_resnet_v2.py)
                    against timm's with the same weights (same keys, strict load; outputs within
                    1e-4 absolute at fp32, the sum order of cuDNN and ours may differ)
  inference_parity  the same exported networks scored on the CPU (fp32) and on the GPU (bf16
                    autocast, channels-last, as the workflow runs them): P(ALL) of an AlexNet-trunk
                    classifier and an EfficientNet-Lite0 one, and a heatmap; tolerance |dP| <= 0.02
                    (bf16 keeps 8 bits of mantissa: about 0.4% per value, a few tenths of a percent
                    after the softmax) and heatmaps within 0.03 of each other
  cuda_tests        `pytest -m cuda`: the tests that need a CUDA device
  workflow_parity   the tiny ALL-IDB2 + ALL-IDB1 workflow (tests/configs/tiny_allidb1.yaml) run with
                    `compute.accelerator: cpu` and `gpu`: Table I accuracy and Table II verdicts;
                    the two runs train separately (bf16 mixed precision, other kernels), so their
                    weights differ: the tolerance is loose (Table I accuracy within 0.1 on these
                    few images, Table II slide verdicts agreeing on most slides) and the figures
                    are reported either way; dry: both runs planned only (`snakemake -n`)
  throughput        each on the CPU and on the GPU, in this command: training images/s at 257 px
                    (AlexNet trunk fine-tuned; EfficientNet-Lite0 above frozen stages: the frozen
                    pass and the trained head), with and without bf16 autocast and channels-last;
                    Inception-ResNet-v2 training at 299 px and the U-Net at 256 px (for the
                    projection); heatmap seconds per 2592x1944 slide; patch scoring patches/s;
                    screening images/s (white-cell finder + the cells' forward pass); peak GPU
                    memory of each
  projection        the wall time of the full real workflow on this GPU from those figures: Table I
                    (both protocols, 10 folds, 25 epochs of 5,616 training and 1,872 validation
                    images), ALL-IDB1 (108 slides x 10 folds: heatmap and patches), C-NMC at 299 px
                    (sets A and B, the combined model, 50 epochs at most), UKM-WBC at 256 px (5 folds
                    and the hold-out, 100 epochs at most): compute only, no start-up or I/O

Figures are measured, never assumed: the projection multiplies image counts from the published
protocols by the rates measured above (upper bounds where early stopping may end sooner).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
TOLERANCES = {"timm_abs": 1e-4, "probability_abs": 0.02, "heatmap_abs": 0.03, "table1_accuracy": 0.1}
PACKAGES = ("snakemake", "monai", "jsonschema", "efficientnet_lite_pytorch", "timm", "pytorch_lightning", "skimage")
DISTRIBUTIONS = {
    "efficientnet_lite_pytorch": "efficientnet-lite-pytorch",
    "pytorch_lightning": "pytorch-lightning",
    "skimage": "scikit-image",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry", action="store_true", help="tiny sizes on the CPU only (CI); no GPU needed")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "gpu_check"), help="output folder")
    parser.add_argument("--skip", nargs="*", default=[], help="parts to leave out")
    return parser.parse_args(argv)


# -- helpers ------------------------------------------------------------------------------------


def devices(dry: bool) -> list[torch.device]:
    """CPU always; the GPU when there is one and this is not a dry run."""
    found = [torch.device("cpu")]
    if not dry and torch.cuda.is_available():
        found.append(torch.device("cuda"))
    return found


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def rate(function, items: int, steps: int, device: torch.device) -> dict:
    """Items per second of `function()` over `steps` timed calls after one untimed one."""
    reset_peak(device)
    function()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        function()
    sync(device)
    seconds = time.perf_counter() - start
    return {"per_s": items * steps / seconds, "seconds": seconds / steps, "peak_gpu_mib": peak_mib(device)}


def ghosh(backbone: str, input_size: int) -> nn.Module:
    from leukoflow.nets.ghosh import GhoshNet

    torch.manual_seed(0)
    return GhoshNet(input_size=input_size, hidden=(256,), backbone=backbone)


# -- parts ----------------------------------------------------------------------------------------


def part_environment(args, sizes) -> dict:
    found = {}
    for name in PACKAGES:
        try:
            importlib.import_module(name)
            found[name] = importlib.metadata.version(DISTRIBUTIONS.get(name, name))
        except Exception as exc:  # a missing or broken package is a finding, not a failure
            found[name] = f"not importable ({type(exc).__name__})"
    cuda = torch.cuda.is_available()
    return {
        "status": "ok",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": cuda,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "capability": ".".join(map(str, torch.cuda.get_device_capability(0))) if cuda else None,
        "cpu_threads": torch.get_num_threads(),
        "packages": found,
        "dry": args.dry,
    }


def part_timm_parity(args, sizes) -> dict:
    try:
        import timm
    except Exception as exc:
        return {"status": "skipped", "why": f"timm not importable ({type(exc).__name__}: {exc})"}
    from leukoflow.nets.inception_resnet_v2 import InceptionResNetV2Trunk

    device = devices(args.dry)[-1]
    torch.manual_seed(0)
    ours = InceptionResNetV2Trunk().eval()
    reference = timm.create_model("inception_resnet_v2", pretrained=False, num_classes=0, global_pool="").eval()
    result = reference.load_state_dict(ours.state_dict(), strict=True)  # same keys, or an error here
    x = torch.rand(2, 3, sizes["irv2"], sizes["irv2"]) * 2 - 1
    with torch.no_grad():
        a = ours.to(device)(x.to(device)).float().cpu()
        b = reference.to(device).forward_features(x.to(device))
    diff = float((a - b.float().cpu()).abs().max())
    return {
        "status": "pass" if diff <= TOLERANCES["timm_abs"] else "fail",
        "max_abs_diff": diff,
        "tolerance": TOLERANCES["timm_abs"],
        "keys": len(ours.state_dict()),
        "strict_load": str(result),
        "device": str(device),
    }


def part_inference_parity(args, sizes) -> dict:
    from leukoflow.inference import predict_proba
    from leukoflow.slides.heatmap import excitation_map

    target = devices(args.dry)[-1]
    generator = torch.Generator().manual_seed(1)
    out = {"device": str(target)}
    worst = 0.0
    for backbone in ("alexnet", "efficientnet_lite0"):
        size = sizes["patch"]
        model = ghosh(backbone, size)
        images = torch.randint(0, 256, (sizes["patches"], 3, size, size), dtype=torch.uint8, generator=generator)
        cpu = predict_proba(model, images, batch_size=32, device="cpu", normalisation=model.normalisation)
        other = predict_proba(model, images, batch_size=32, device=target, normalisation=model.normalisation)
        diff = float(np.abs(cpu - other).max())
        worst = max(worst, diff)
        out[f"{backbone}_max_abs_dP"] = diff
    model = ghosh("alexnet", sizes["patch"])
    slide = np.random.default_rng(2).integers(0, 256, (sizes["slide"][1], sizes["slide"][0], 3), dtype=np.uint8)
    on_cpu = excitation_map(model.features, slide, device="cpu")
    on_target = excitation_map(model.features, slide, device=target)
    out["heatmap_max_abs_diff"] = float(np.abs(on_cpu - on_target).max())
    ok = worst <= TOLERANCES["probability_abs"] and out["heatmap_max_abs_diff"] <= TOLERANCES["heatmap_abs"]
    out.update(
        status="pass" if ok else "fail", tolerances={k: TOLERANCES[k] for k in ("probability_abs", "heatmap_abs")}
    )
    return out


def part_cuda_tests(args, sizes) -> dict:
    command = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", *CUDA_TEST_FILES]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=child_env())
    tail = (result.stdout + result.stderr).strip().splitlines()[-1:] or [""]
    status = "pass" if result.returncode in (0, 5) else "fail"  # 5: nothing selected
    return {
        "status": status,
        "returncode": result.returncode,
        "summary": tail[0],
        "seconds": time.perf_counter() - started,
    }


CUDA_TEST_FILES = (
    "tests/slides/test_heatmap.py",
    "tests/training/test_fit.py",
    "tests/nets/test_inception_resnet_v2.py",
)


def child_env() -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


def part_workflow_parity(args, sizes) -> dict:
    import pandas as pd
    import yaml

    base = yaml.safe_load((REPO / "tests" / "configs" / "tiny_allidb1.yaml").read_text())
    runs = {}
    root = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    for accelerator in ("cpu", "gpu"):
        workdir = root / accelerator
        workdir.mkdir()
        config = {
            **base,
            "compute": {**base.get("compute", {}), "accelerator": accelerator, "allow_cpu_fallback": False},
        }
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        command = [
            sys.executable, "-m", "snakemake",
            "--snakefile", str(REPO / "workflow" / "Snakefile"),
            "--directory", str(workdir),
            "--workflow-profile", str(REPO / "profiles" / "default"),
            "--configfile", "config.yaml",
            "--cores", str(max(2, min(8, os.cpu_count() or 2))),
            "--resources", "gpu=1",
        ]  # fmt: skip
        if args.dry:
            command.append("-n")
        started = time.perf_counter()
        result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=child_env())
        runs[accelerator] = {"returncode": result.returncode, "seconds": time.perf_counter() - started}
        if result.returncode != 0:
            runs[accelerator]["tail"] = (result.stdout + result.stderr)[-2000:]
    out = {"runs": runs, "tolerance_table1_accuracy": TOLERANCES["table1_accuracy"]}
    if any(run["returncode"] for run in runs.values()):
        return {**out, "status": "fail"}
    if args.dry:
        return {**out, "status": "planned", "why": "dry: both runs planned only"}
    tables = {a: pd.read_csv(root / a / "results" / "tables" / "table1_leak_free.tsv", sep="\t") for a in runs}
    pooled = {a: float(t.loc[t["fold"].astype(str) == "all", "accuracy"].iloc[0]) for a, t in tables.items()}
    verdicts = {
        a: pd.read_csv(root / a / "results" / "allidb1" / "slide_verdicts.tsv", sep="\t").sort_values(
            ["method", "slide"]
        )
        for a in runs
    }
    agree = float((verdicts["cpu"]["verdict"].to_numpy() == verdicts["gpu"]["verdict"].to_numpy()).mean())
    difference = abs(pooled["cpu"] - pooled["gpu"])
    # The CPU run's exported network scored on both devices: the same weights, so the tight
    # probability tolerance of inference_parity applies.
    from leukoflow.inference import input_normalisation, load_exported, predict_proba

    exported = root / "cpu" / "results" / "allidb2" / "leak_free" / "fold1" / "model.pt"
    model = load_exported(exported)
    size = int(model.arch_kwargs.get("input_size", 65))
    images = torch.randint(0, 256, (64, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    normalisation = input_normalisation(exported)
    on_cpu = predict_proba(model, images, device="cpu", normalisation=normalisation)
    on_gpu = predict_proba(model, images, device="cuda", normalisation=normalisation)
    exported_dp = float(np.abs(on_cpu - on_gpu).max())
    ok = difference <= TOLERANCES["table1_accuracy"] and agree >= 0.5 and exported_dp <= TOLERANCES["probability_abs"]
    return {
        **out,
        "status": "pass" if ok else "fail",
        "table1_pooled": pooled,
        "table2_verdict_agreement": agree,
        "exported_model_max_abs_dP": exported_dp,
    }


def train_rate(model: nn.Module, shape, steps: int, device, bf16: bool, channels_last: bool, segmenter=False) -> dict:
    """Training images/s: forward, loss, backward and an SGD step on a random batch of `shape`."""
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device).train().to(memory_format=memory)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    x = torch.rand(*shape, device=device).contiguous(memory_format=memory)
    batch, size = shape[0], shape[-1]
    if segmenter:
        y = (torch.rand(batch, 1, size, size, device=device) > 0.5).float()
    else:
        y = torch.zeros(batch, dtype=torch.long, device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            output = model(x)
        output = output.float()
        if segmenter:
            loss = nn.functional.binary_cross_entropy_with_logits(output, y)
        else:
            loss = nn.functional.nll_loss(output, y)  # the networks return log-probabilities
        loss.backward()
        optimizer.step()

    return rate(step, batch, steps, device)


def part_throughput(args, sizes) -> dict:
    from leukoflow.allidb2.frozen import TopOfNetwork, frozen_maps
    from leukoflow.cnmc.models import BackboneClassifier  # C-NMC's stage-1 network
    from leukoflow.inference import predict_proba
    from leukoflow.nets.unet import UNet
    from leukoflow.slides.heatmap import excitation_map

    figures: dict[str, dict] = {}
    batch, steps, size = sizes["batch"], sizes["steps"], sizes["patch"]
    for device in devices(args.dry):
        here: dict[str, dict] = {}
        variants = [("fp32", False, False), ("fp32_channels_last", False, True)]
        if device.type == "cuda":
            variants += [("bf16", True, False), ("bf16_channels_last", True, True)]
        for name, bf16, last in variants:
            here[f"train_alexnet_{name}"] = train_rate(
                ghosh("alexnet", size), (batch, 3, size, size), steps, device, bf16, last
            )
        # EfficientNet-Lite0 above frozen stages (the demo's and our ALL-IDB2 transfer model): the
        # frozen stages run once per image, the rest trains on their maps.
        model = ghosh("efficientnet_lite0", size)
        stages, k = model.trunk_stages(), sizes["frozen_stages"]
        images = torch.randint(0, 256, (batch * steps, 3, size, size), dtype=torch.uint8)
        here["frozen_pass_efficientnet_lite0"] = rate(
            lambda: frozen_maps(stages[:k], images, model.normalisation, device, batch=batch), batch * steps, 1, device
        )
        maps = frozen_maps(stages[:k], images[:1], model.normalisation, device)
        for name, bf16, last in variants:
            top = TopOfNetwork(stages[k:], model.classifier)
            here[f"train_efficientnet_lite0_top_{name}"] = train_rate(
                top, (batch, *maps.shape[1:]), steps, device, bf16, last
            )
        amp = device.type == "cuda"  # the workflow trains with bf16-mixed on a GPU, fp32 on the CPU
        half = max(2, batch // 2)
        here["train_inception_resnet_v2"] = train_rate(
            BackboneClassifier("inception_resnet_v2"), (half, 3, sizes["irv2"], sizes["irv2"]), steps, device, amp, True
        )
        unet = UNet(in_channels=1, out_channels=1, features=sizes["unet_features"])
        quarter = max(2, batch // 4)
        here["train_unet"] = train_rate(
            unet, (quarter, 1, sizes["unet"], sizes["unet"]), steps, device, amp, True, segmenter=True
        )
        # Heatmap of one whole slide, one forward pass (the workflow's slides.heatmap).
        features = ghosh("alexnet", size).features
        slide = np.random.default_rng(3).integers(0, 256, (sizes["slide"][1], sizes["slide"][0], 3), dtype=np.uint8)
        heat = rate(lambda: excitation_map(features, slide, device=device), 1, max(1, steps // 2), device)
        here["heatmap_slide"] = {**heat, "seconds_per_slide": heat["seconds"], "slide": list(sizes["slide"])}
        # Patch scoring: all patches of a slide in one call (inference.predict_proba).
        model = ghosh("alexnet", size)
        patches = torch.randint(0, 256, (sizes["patches"], 3, size, size), dtype=torch.uint8)
        here["patch_scoring"] = rate(
            lambda: predict_proba(model, patches, batch_size=64, device=device, normalisation="imagenet"),
            sizes["patches"],
            1,
            device,
        )
        here["screening"] = screening_rate(device, sizes)
        figures[device.type] = here
    return {"status": "measured", "figures": figures, "sizes": {k: v for k, v in sizes.items()}}


def screening_rate(device: torch.device, sizes: dict) -> dict:
    """Images/s of screening one smear: the white-cell finder on the CPU, then the forward pass of
    its cells (EfficientNet-Lite0 classifier at the crop size) on `device`, composed per image."""
    from leukoflow.inference import predict_proba
    from leukoflow.slides.whitecells import find_white_cells

    smear = synthetic_smear(sizes["smear"])
    started = time.perf_counter()
    cells = find_white_cells(smear, red_cell_px=30.0)
    finder_s = time.perf_counter() - started
    n_cells = max(1, len(cells))
    model = ghosh("efficientnet_lite0", sizes["patch"])
    crops = torch.randint(0, 256, (n_cells, 3, sizes["patch"], sizes["patch"]), dtype=torch.uint8)
    forward = rate(
        lambda: predict_proba(model, crops, batch_size=64, device=device, normalisation="signed"), n_cells, 1, device
    )
    per_image = finder_s + forward["seconds"]
    return {
        "per_s": 1.0 / per_image,
        "finder_s": finder_s,
        "cells": n_cells,
        "forward_s": forward["seconds"],
        "peak_gpu_mib": forward["peak_gpu_mib"],
    }


def synthetic_smear(shape) -> np.ndarray:
    """A pale smear with dark round nuclei, enough for the finder to work on."""
    width, height = shape
    rng = np.random.default_rng(4)
    image = np.full((height, width, 3), (225, 200, 205), dtype=np.uint8)
    yy, xx = np.mgrid[:height, :width]
    for _ in range(6):
        cx, cy, r = rng.integers(40, width - 40), rng.integers(40, height - 40), rng.integers(14, 22)
        image[(xx - cx) ** 2 + (yy - cy) ** 2 < r**2] = (90, 50, 140)
    return image


def part_projection(results: dict, sizes) -> dict:
    """Compute-only wall time of the full real workflow from the measured rates."""
    figures = results.get("throughput", {}).get("figures", {})
    out = {}
    for device, here in figures.items():
        best_alexnet = max(v["per_s"] for k, v in here.items() if k.startswith("train_alexnet_"))
        infer = here["patch_scoring"]["per_s"]
        table1 = 2 * 10 * 25 * (5616 / best_alexnet + 1872 / infer) + 2 * 10 * 1872 / infer
        allidb1 = 108 * 10 * (here["heatmap_slide"]["seconds_per_slide"] + 30 / infer)
        cnmc_train = 2 * 50 * 1.5 * 7000 + 50 * 7000  # sets A and B (originals + copies), the combined model
        cnmc = cnmc_train / here["train_inception_resnet_v2"]["per_s"]
        ukm = 6 * 100 * (1388 * 0.8 * 4) / here["train_unet"]["per_s"]
        scale = sizes["scale_to_real"]
        hours = {
            "table1_both_protocols": table1 * scale["alexnet"] / 3600,
            "allidb1_108_slides_10_folds": allidb1 * scale["alexnet"] / 3600,
            "cnmc_299px": cnmc * scale["irv2"] / 3600,
            "ukm_256px": ukm * scale["unet"] / 3600,
        }
        hours["total"] = sum(hours.values())
        out[device] = hours
    note = "compute only: no job start-up, I/O or early stopping"
    if sizes is DRY:
        note = (
            "DRY: rates measured at tiny sizes and scaled by pixel counts; not a projection, a check that the code runs"
        )
    return {"status": "computed", "hours": out, "note": note}


PARTS = {
    "environment": part_environment,
    "timm_parity": part_timm_parity,
    "inference_parity": part_inference_parity,
    "cuda_tests": part_cuda_tests,
    "workflow_parity": part_workflow_parity,
    "throughput": part_throughput,
}

REAL = {
    "batch": 32, "steps": 4, "patch": 257, "patches": 256, "irv2": 299, "unet": 256,
    "unet_features": [64, 128, 256, 512, 1024], "slide": (2592, 1944), "smear": (640, 480),
    "frozen_stages": 17, "scale_to_real": {"alexnet": 1.0, "irv2": 1.0, "unet": 1.0},
}  # fmt: skip
# Dry: the same code at sizes a 2-core CPU runs in seconds; the projection scales the measured
# rates by the pixel ratio to the real sizes (a rough figure, labelled dry).
DRY = {
    "batch": 2, "steps": 1, "patch": 65, "patches": 8, "irv2": 75, "unet": 32,
    "unet_features": [8, 16], "slide": (320, 240), "smear": (320, 240), "frozen_stages": 17,
    "scale_to_real": {"alexnet": (257 / 65) ** 2, "irv2": (299 / 75) ** 2, "unet": (256 / 32) ** 2},
}  # fmt: skip


def table(results: dict) -> str:
    lines = ["| part | status | figures |", "|---|---|---|"]
    for name, result in results.items():
        if name in ("environment", "throughput", "projection"):
            continue
        shown = {k: v for k, v in result.items() if k not in ("status", "tail", "runs")}
        lines.append(f"| {name} | {result.get('status')} | {json.dumps(shown, default=str)[:300]} |")
    throughput = results.get("throughput", {}).get("figures", {})
    if throughput:
        names = sorted({k for here in throughput.values() for k in here})
        devices_ = list(throughput)
        lines += ["", "| measurement | " + " | ".join(f"{d} per s | {d} peak GPU MiB" for d in devices_) + " |"]
        lines.append("|---|" + "---|---|" * len(devices_))
        for name in names:
            cells = []
            for d in devices_:
                value = throughput[d].get(name)
                cells += [
                    "" if value is None else f"{value['per_s']:.3g}",
                    "" if not value or value.get("peak_gpu_mib") is None else f"{value['peak_gpu_mib']:.0f}",
                ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    hours = results.get("projection", {}).get("hours", {})
    if hours:
        lines += ["", results["projection"]["note"]]
        lines += ["", "| projected compute, hours | " + " | ".join(hours) + " |", "|---|" + "---|" * len(hours)]
        for key in next(iter(hours.values())):
            lines.append(f"| {key} | " + " | ".join(f"{hours[d][key]:.3g}" for d in hours) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    sizes = DRY if args.dry else REAL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.dry and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run with --dry for the CPU-only check", file=sys.stderr)
        return 2
    results: dict[str, dict] = {}
    started = time.perf_counter()
    for name, part in PARTS.items():
        if name in args.skip:
            continue
        begun = time.perf_counter()
        try:
            results[name] = part(args, sizes)
        except Exception as exc:  # one broken part must not hide the others' figures
            results[name] = {
                "status": "error",
                "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc()[-2000:],
            }
        results[name]["part_seconds"] = time.perf_counter() - begun
        print(f"gpu_check: {name}: {results[name].get('status')} ({results[name]['part_seconds']:.1f} s)", flush=True)
        (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str))
    if "throughput" in results and results["throughput"].get("status") == "measured":
        results["projection"] = part_projection(results, sizes)
    results["total_seconds"] = {"status": "", "seconds": time.perf_counter() - started}
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "gpu_check.md").write_text(table(results))
    print(table(results))
    failed = [name for name, r in results.items() if r.get("status") in ("fail", "error")]
    if failed:
        print(f"gpu_check: FAILED parts: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
