"""Benchmark of the synthetic generator: time and peak memory to render one whole ALL-IDB1 slide
at the real size (2592x1944) and at the small demo size, beside a count of the cells planted.

Usage:
    python benchmarks/bench_synthetic.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from leukoflow.data.synthetic.slides import render_slide

SIZES = ((1944, 2592), (600, 800))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    render_slide(np.random.default_rng(0), 400, 400, has_blasts=True)  # warm-up (imports, caches)
    print(f"{'size':>10} {'seconds/slide':>14} {'cells':>6} {'peak RSS MiB':>13}")
    for height, width in SIZES:
        seconds, cells = [], 0
        for repeat in range(args.repeats):
            start = time.perf_counter()
            _, planted = render_slide(np.random.default_rng(repeat + 1), height, width, has_blasts=True)
            seconds.append(time.perf_counter() - start)
            cells = len(planted)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{width}x{height:>5} {np.median(seconds):14.2f} {cells:6d} {peak:13.0f}")


if __name__ == "__main__":
    main()
