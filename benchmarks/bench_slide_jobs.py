"""Wall time of the ALL-IDB1 slide rules as whole Snakemake runs: one job per group of slides
(`allidb1.slides.group_size`) against one job per slide, with and without Snakemake's own job
grouping (`--groups`), on the same trained networks.

    python benchmarks/bench_slide_jobs.py [--slides 8] [--cores 2] [--workdir DIR]

Sets up a tiny synthetic run (tests/configs/tiny_allidb1.yaml with `--slides` slides) and trains its
network once (not timed), then times the slide rules (cell size, heatmap, segmentation, patch
scoring for both methods, Table II) three ways. On a machine shared with other jobs the figures
are noisy: measure on a quiet one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TARGET = "results/tables/table2.tsv"
SLIDE_RULES = ("allidb1_heatmap", "allidb1_segment", "allidb1_classify_patches")


def snakemake(workdir: Path, config: str, *args: str) -> tuple[float, str]:
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        "--workflow-profile",
        str(REPO / "profiles" / "default"),
        *args,
        "--configfile",  # last: it takes several values, so a target after it would be read as one
        config,
    ]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stdout[-3000:] + result.stderr[-3000:])
    return time.perf_counter() - start, result.stdout + result.stderr


def write_config(workdir: Path, slides: int, group_size: int) -> str:
    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny_allidb1.yaml").read_text())
    config["synthetic"]["allidb1"].update(n_all=slides // 2, n_healthy=slides - slides // 2)
    config["allidb1"]["slides"]["group_size"] = group_size
    config["allidb1"]["cnn50"] = {"enabled": False}
    name = f"groups_of_{group_size}.yaml"
    (workdir / name).write_text(yaml.safe_dump(config))
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slides", type=int, default=8)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None, help="reuse a set-up folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        whole = write_config(workdir, args.slides, args.slides)
        single = write_config(workdir, args.slides, 1)
        cores = ("--cores", str(args.cores))
        setup, _ = snakemake(workdir, whole, TARGET, *cores)
        print(f"set-up (synthetic data, training, first slide run; not compared): {setup:.1f} s")
        groups = [f"{rule}=slides" for rule in SLIDE_RULES]
        variants = (
            (f"one job per group of {args.slides} slides", whole, ()),
            ("one job per slide", single, ()),
            (
                "one job per slide, Snakemake --groups",
                single,
                ("--groups", *groups, "--group-components", "slides=1000"),
            ),
        )
        print(f"{'variant':48s} {'jobs':>5s} {'wall s':>8s}")
        for name, config, extra in variants:
            seconds, log = snakemake(workdir, config, TARGET, *cores, "--forcerun", "allidb1_cell_size", *extra)
            jobs = log.count("Finished jobid")
            print(f"{name:48s} {jobs:5d} {seconds:8.1f}")


if __name__ == "__main__":
    main()
