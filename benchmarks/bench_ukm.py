"""What the UKM-WBC stage costs, part by part, on this machine (numbers for docs/ukm.md).

imports   seconds to import what each kind of job needs, each in a fresh interpreter (median of
          --repeats): torch; the segmentation job (leukoflow.ukm.segment: torch, the U-Net,
          scikit-image, no Lightning); MONAI (`import monai` loads its whole package whatever
          submodule is asked for); a training job (leukoflow.training.fit: Lightning) and a
          U-Net training job (plus MONAI's DiceLoss).
unet      U-Net training step and inference throughput (images/s) on random data at the demo's
          and the paper's settings.
post      opening + connected components + ROI crops per image (the stack at once).

  python benchmarks/bench_ukm.py --threads 2
  python benchmarks/bench_ukm.py --only imports --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

IMPORTS = {
    "torch": "import torch",
    "segment job (torch + U-Net + scikit-image)": "import leukoflow.ukm.segment",
    "torch + monai": "import torch, monai",
    "training job (Lightning)": "import leukoflow.training.fit",
    "U-Net training job (Lightning + MONAI DiceLoss)": (
        "import leukoflow.training.fit; from leukoflow.training.systems import segmentation_loss; "
        "segmentation_loss('dice')"
    ),
}
UNETS = {
    # name: (size, features, norm, batch)
    "demo (96 px, 8..64, batch norm)": (96, (8, 16, 32, 64), "batch", 8),
    "paper (256 px, 64..1024)": (256, (64, 128, 256, 512, 1024), "none", 4),
}


def time_import(statement: str, repeats: int) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(repeats)
    ]
    return statistics.median(runs)


def bench_imports(repeats: int) -> None:
    print(f"import times (median of {repeats} fresh interpreters):")
    for name, statement in IMPORTS.items():
        print(f"  {name:50s} {time_import(statement, repeats):6.2f} s")


def bench_unet(steps: int) -> None:
    import torch

    from leukoflow.nets.unet import UNet

    print(f"U-Net throughput ({torch.get_num_threads()} threads, {steps} timed steps after one warm-up):")
    for name, (size, features, norm, batch) in UNETS.items():
        torch.manual_seed(0)
        model = UNet(1, 1, features, norm)
        optimiser = torch.optim.Adam(model.parameters(), 1e-3)
        x = torch.randn(batch, 1, size, size)
        y = (torch.rand(batch, 1, size, size) > 0.9).float()
        for step in range(steps + 1):
            if step == 1:
                start = time.perf_counter()
            optimiser.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
            optimiser.step()
        train = steps * batch / (time.perf_counter() - start)
        model.eval()
        with torch.inference_mode():
            model(x)
            start = time.perf_counter()
            for _ in range(steps):
                model(x)
        infer = steps * batch / (time.perf_counter() - start)
        print(f"  {name:34s} train {train:7.1f} images/s   inference {infer:7.1f} images/s")


def bench_post(n: int, size: int, crop: int) -> None:
    import numpy as np

    from leukoflow.ukm.segment import nucleus_components, open_masks, roi_crops

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    centres = rng.uniform(0.3 * size, 0.7 * size, (n, 2))
    masks = (yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2 < (size / 8) ** 2
    masks ^= rng.random(masks.shape) < 0.01  # speckle for the opening to remove
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    start = time.perf_counter()
    opened = open_masks(masks, 5)
    middle = time.perf_counter()
    components, _ = nucleus_components(opened, 30)
    crops, _ = roi_crops(images, components, crop)
    end = time.perf_counter()
    print(
        f"post-processing {n} masks of {size} px: opening {1e3 * (middle - start) / n:.2f} ms/image, "
        f"components + {crop} px crops {1e3 * (end - middle) / n:.2f} ms/image ({len(crops)} crops)"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("imports", "unet", "post"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.only in (None, "imports"):
        bench_imports(args.repeats)
    if args.only in (None, "unet"):
        bench_unet(args.steps)
    if args.only in (None, "post"):
        bench_post(200, 256, 128)


if __name__ == "__main__":
    main()
