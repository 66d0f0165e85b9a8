"""Training throughput of the AlexNet-based network under three data paths.

  (a) inmemory: the real pipeline. `augment_batch` rotates/mirrors the source images once into a
      uint8 tensor in RAM; `leukoflow.training.fit` feeds index batches to Lightning and normalises on
      the device. Timed inside a real `pl.Trainer` run (no validation, no checkpoints).
  (b) bare:     the model step alone (forward, NLL, backward, SGD) on random float tensors already
      on the device: the ceiling any data path can reach.
  (c) disk:     the straightforward way: one TIFF per source image on disk, a Dataset that opens
      the file and rotates/mirrors it with PIL per item, a torch DataLoader collating the batch.

Each variant runs in its own subprocess so peak RSS (resource.getrusage) is its own; on GPU the
peak CUDA memory is reported too. Images/s count training images (after augmentation) per second
of timed steps, after `--warmup` untimed steps.

    python benchmarks/bench_train.py --n-images 8 --size 257 --batch-size 64 --steps 20 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

MODES = ("inmemory", "bare", "disk")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-images", type=int, default=8, help="source images before the x36 augmentation")
    parser.add_argument("--size", type=int, default=257)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed optimiser steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--hidden", default="4096,4096", help="hidden layer sizes of the new classifier head")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for the disk variant")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--only", choices=MODES, help=argparse.SUPPRESS)  # internal: one variant
    return parser.parse_args(argv)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available")
    return torch.device(name)


def build_model(args, device):
    from leukoflow.nets.ghosh import GhoshNet

    torch.manual_seed(0)
    hidden = [int(h) for h in args.hidden.split(",") if h]
    return GhoshNet(input_size=args.size, hidden=hidden).to(device)


def source_images(args) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.n_images, 3, args.size, args.size), dtype=torch.uint8, generator=generator)
    labels = torch.arange(args.n_images) % 2
    return images, labels


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------------------------
# (a) the real in-memory pipeline, inside Lightning


def run_inmemory(args, device) -> dict:
    import pytorch_lightning as pl

    from leukoflow.allidb2.augment import augment_batch
    from leukoflow.training.fit import ClassifierModule, TrainConfig, make_loader

    sources, source_labels = source_images(args)
    start = time.perf_counter()
    images, index = augment_batch(sources)
    augment_s = time.perf_counter() - start
    labels = source_labels[torch.as_tensor(index["source_index"].to_numpy())]

    gpu = device.type == "cuda"
    cfg = TrainConfig(batch_size=args.batch_size, accelerator="gpu" if gpu else "cpu")
    model = build_model(args, torch.device("cpu"))
    if gpu:
        model = model.to(memory_format=torch.channels_last)
    module = ClassifierModule(model, cfg)
    loader = make_loader(images, labels, args.batch_size, shuffle=True, seed=0, pin_memory=gpu)

    class Timer(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == args.warmup:
                sync(device)
                self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == args.warmup + args.steps:
                sync(device)
                self.stop = time.perf_counter()

    timer = Timer()
    trainer = pl.Trainer(
        max_steps=args.warmup + args.steps,
        accelerator="gpu" if gpu else "cpu",
        devices=1,
        precision="bf16-mixed" if gpu else "32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[timer],
    )
    trainer.fit(module, loader)
    return {
        "images_per_s": args.steps * args.batch_size / (timer.stop - timer.start),
        "augment_s": augment_s,
        "n_train_images": images.shape[0],
        "in_memory_MiB": images.numel() / 2**20,
    }


# ------------------------------------------------------------------------------------------------
# (b) bare model step and (c) the file-per-image DataLoader share one plain training loop


def train_steps(args, device, batches) -> float:
    """Run warmup + steps SGD steps on batches of (normalised float images, labels); images/s."""
    model = build_model(args, device).train()
    gpu = device.type == "cuda"
    if gpu:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            sync(device)
            start = time.perf_counter()
        images, labels = next(batches)
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if gpu:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=gpu):
            loss = F.nll_loss(model(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    return args.steps * args.batch_size / (time.perf_counter() - start)


def run_bare(args, device) -> dict:
    images = torch.randn(args.batch_size, 3, args.size, args.size, device=device)
    labels = torch.randint(0, 2, (args.batch_size,), device=device)

    def forever():
        while True:
            yield images, labels

    return {"images_per_s": train_steps(args, device, forever())}


class RotatedFileDataset(torch.utils.data.Dataset):
    """The per-item way: each item opens its source file and rotates/mirrors it with PIL."""

    def __init__(self, paths, labels, angles=tuple(range(0, 360, 20))):
        self.paths, self.labels, self.angles = list(paths), list(labels), list(angles)
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

    def __len__(self):
        return len(self.paths) * len(self.angles) * 2

    def __getitem__(self, item):
        from PIL import Image, ImageOps

        source, variant = divmod(item, len(self.angles) * 2)
        angle, mirrored = self.angles[variant // 2], variant % 2 == 1
        with Image.open(self.paths[source]) as image:
            image = image.convert("RGB").rotate(angle, resample=Image.BILINEAR)
        if mirrored:
            image = ImageOps.mirror(image)
        pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float().div(255)
        return (pixels - self.mean) / self.std, self.labels[source]


def run_disk(args, device) -> dict:
    from PIL import Image

    sources, labels = source_images(args)
    with tempfile.TemporaryDirectory(prefix="bench_train_") as folder:
        paths = []
        for i, image in enumerate(sources.permute(0, 2, 3, 1).numpy()):
            path = Path(folder) / f"Im{i:03d}_{int(labels[i])}.tif"
            Image.fromarray(image).save(path)
            paths.append(path)
        dataset = RotatedFileDataset(paths, labels.tolist())
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            pin_memory=device.type == "cuda",
            drop_last=True,
        )

        def forever():
            while True:
                yield from loader

        return {"images_per_s": train_steps(args, device, forever()), "workers": args.workers}


# ------------------------------------------------------------------------------------------------


def run_one(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    result = {"inmemory": run_inmemory, "bare": run_bare, "disk": run_disk}[args.only](args, device)
    # ru_maxrss is in KiB on Linux; children covers DataLoader workers.
    result["peak_rss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_rss_children_MiB"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if device.type == "cuda":
        result["peak_cuda_MiB"] = torch.cuda.max_memory_allocated() / 2**20
    result["device"] = str(device)
    return result


def main(argv=None):
    args = parse_args(argv)
    if args.only:
        print("RESULT " + json.dumps(run_one(args)))
        return
    passthrough = [arg for arg in (argv if argv is not None else sys.argv[1:])]
    print(
        f"n_images={args.n_images} (x36 = {args.n_images * 36} training images) size={args.size} "
        f"batch={args.batch_size} steps={args.steps} warmup={args.warmup} hidden={args.hidden} "
        f"device={resolve_device(args.device)} threads={args.threads or torch.get_num_threads()}"
    )
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    for mode in MODES:
        proc = subprocess.run(
            [sys.executable, __file__, *passthrough, "--only", mode], capture_output=True, text=True, env=env
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            print(f"{mode}: FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}")
            continue
        result = json.loads(lines[-1][len("RESULT ") :])
        extras = ", ".join(
            f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in result.items()
            if key not in ("images_per_s", "device")
        )
        print(f"{mode:9s} {result['images_per_s']:9.1f} images/s   {extras}")


if __name__ == "__main__":
    main()
