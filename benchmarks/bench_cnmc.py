"""C-NMC stage timings: the crop per cell, the augmentation, a training step of model-A and of
the combined model, and (with --run) the per-job wall times a workflow run recorded.

  crop      synthetic 450 px frames through `cnmc.crop.crop_files` (the paper's single Otsu and
            our three-class "background" threshold), cells/s
  augment   `cnmc.augment.augment` at --size, copies/s
  train     forward + backward + RMSprop step of BackboneClassifier and CombinedClassifier
            (trunks fine-tuned and frozen) at --size, images/s, and the forward pass alone
  run       the `s` column of results/benchmarks/cnmc_*/*.tsv of a finished run, and their sum:
            the number the demo's time budget (about 90 s on 2 cores) is about

    python benchmarks/bench_cnmc.py --size 64 --threads 2
    python benchmarks/bench_cnmc.py --run /path/to/results --skip-compute
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64, help="network input side (the demo's 64, the paper's 299)")
    parser.add_argument("--frame", type=int, default=450, help="synthetic frame side for the crop timing")
    parser.add_argument("--cells", type=int, default=40, help="cells for the crop timing")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run", type=Path, help="a run's results folder: print its C-NMC job times")
    parser.add_argument("--skip-compute", action="store_true", help="only read --run")
    return parser.parse_args(argv)


def timed(function, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat


def bench_crop(args) -> None:
    from leukoflow.cnmc.crop import CropSettings, crop_files
    from leukoflow.data.synthetic import write_cnmc

    with tempfile.TemporaryDirectory() as folder:
        per_subject = max(1, args.cells // 2)
        root = write_cnmc(
            folder,
            subjects_all=1,
            subjects_hem=1,
            cells_per_subject=per_subject,
            prelim_subjects=0,
            cells_per_prelim_subject=1,
            size=args.frame,
        )
        paths = [str(p) for p in sorted(root.rglob("*.bmp"))]
        for threshold in ("otsu", "background"):
            settings = CropSettings(size=args.size, threshold=threshold)
            seconds = timed(lambda: crop_files(paths, settings, workers=args.threads))
            print(f"crop {threshold:10s} {args.frame} px frames: {len(paths) / seconds:7.1f} cells/s")


def bench_augment(args) -> None:
    from leukoflow.cnmc.augment import AugmentSettings, augment

    images = torch.randint(0, 256, (256, 3, args.size, args.size), dtype=torch.uint8)
    seconds = timed(lambda: augment(images, AugmentSettings(), seed=0), repeat=2)
    print(f"augment {args.size} px: {len(images) / seconds:9.1f} copies/s")


def bench_train(args) -> None:
    from leukoflow.cnmc.models import BackboneClassifier, CombinedClassifier

    x = torch.randn(args.batch_size, 3, args.size, args.size)
    y = torch.arange(args.batch_size) % 2
    models = {
        "model-A (fine-tuned)": BackboneClassifier("efficientnet_lite0"),
        "combined (fine-tuned)": CombinedClassifier("efficientnet_lite0"),
        "combined (frozen trunks)": CombinedClassifier("efficientnet_lite0", freeze_trunks=True),
    }
    for name, model in models.items():
        optimizer = torch.optim.RMSprop([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        model.train()

        def step():
            loss = F.nll_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        step()  # warm-up
        seconds = timed(step, repeat=args.steps)
        model.eval()
        with torch.inference_mode():
            forward = timed(lambda: model(x), repeat=args.steps)
        print(
            f"{name:26s} {args.size} px: train {args.batch_size / seconds:7.1f} images/s, "
            f"forward {args.batch_size / forward:7.1f} images/s"
        )


def read_run(results: Path) -> None:
    rows = []
    for path in sorted((results / "benchmarks").glob("cnmc_*/*.tsv")):
        bench = pd.read_csv(path, sep="\t")
        rows.append((f"{path.parent.name}/{path.stem}", float(bench["s"].iloc[-1]), float(bench["cpu_time"].iloc[-1])))
    if not rows:
        print(f"no C-NMC benchmark files under {results / 'benchmarks'}")
        return
    for name, seconds, cpu in rows:
        print(f"{name:34s} {seconds:7.1f} s wall {cpu:7.1f} s cpu")
    print(f"{'C-NMC stage, all jobs':34s} {sum(r[1] for r in rows):7.1f} s wall {sum(r[2] for r in rows):7.1f} s cpu")


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.skip_compute:
        bench_crop(args)
        bench_augment(args)
        bench_train(args)
    if args.run is not None:
        read_run(args.run)


if __name__ == "__main__":
    main()
