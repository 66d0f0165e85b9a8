"""Forward passes in the two memory layouts, side by side: channels-first (PyTorch's default) and
channels-last, for the networks the long inference steps run.

  alexnet             the AlexNet trunk (Table I's network, the heatmaps' conv layers) at 227 px
  efficientnet_lite0  the EfficientNet-Lite0 trunk (the frozen-feature pass of the ALL-IDB2
                      transfer models, the C-NMC backbone) at 257 px
  unet                the UKM-WBC U-Net at 256 px, one grey channel

Each (network, layout) runs in its own subprocess, so its peak RSS (resource.getrusage) is its
own; on GPU the peak CUDA memory is printed too. Images/s count images per second of timed
batches under `torch.inference_mode`, after one untimed batch. The library's passes
(`inference._batches`, `allidb2.frozen.frozen_maps`, `slides.heatmap`) use channels-last on every
device because of these figures.

    python benchmarks/bench_layouts.py [--batch 32] [--steps 4] [--threads 2] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

NETWORKS = {"alexnet": (3, 227), "efficientnet_lite0": (3, 257), "unet": (1, 256)}
LAYOUTS = ("channels-first", "channels-last")


def build(name: str) -> torch.nn.Module:
    if name == "unet":
        from leukoflow.nets.unet import UNet

        return UNet(in_channels=1, out_channels=1)
    from leukoflow.nets.backbones import build_backbone

    return build_backbone(name, pretrained="none")


def measure(name: str, layout: str, batch: int, steps: int, device: torch.device) -> dict:
    channels, size = NETWORKS[name]
    torch.manual_seed(0)
    model = build(name).to(device).eval()
    images = torch.rand(batch, channels, size, size, device=device)
    if layout == "channels-last":
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        model(images)  # untimed: allocator and kernel selection
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            out = model(images)
        sync()
        seconds = time.perf_counter() - start
    result = {
        "images_per_s": steps * batch / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "checksum": float(out.float().abs().mean()),
    }
    if device.type == "cuda":
        result["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="timed batches per variant")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--only", help=argparse.SUPPRESS)  # internal: network:layout in this process
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(
        "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    )
    if args.only:
        name, layout = args.only.split(":")
        print(json.dumps(measure(name, layout, args.batch, args.steps, device)))
        return

    print(f"device {device}, batch {args.batch}, {args.steps} timed batches, threads {torch.get_num_threads()}")
    print(f"{'network':<20} {'size':>5} {'layout':<15} {'images/s':>9} {'peak RSS MiB':>13} {'speed-up':>9}")
    for name in args.networks.split(","):
        first = None
        for layout in LAYOUTS:
            command = [sys.executable, __file__, "--only", f"{name}:{layout}", "--batch", str(args.batch)]
            command += ["--steps", str(args.steps), "--device", device.type]
            command += ["--threads", str(args.threads)] if args.threads else []
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{name:<20} {layout}: failed\n{done.stderr[-2000:]}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            first = first or result
            speedup = result["images_per_s"] / first["images_per_s"]
            cuda = f"  (peak CUDA {result['peak_cuda_mib']:.0f} MiB)" if "peak_cuda_mib" in result else ""
            print(
                f"{name:<20} {NETWORKS[name][1]:>5} {layout:<15} {result['images_per_s']:>9.1f} "
                f"{result['peak_rss_mib']:>13.0f} {speedup:>8.2f}x{cuda}"
            )


if __name__ == "__main__":
    main()
