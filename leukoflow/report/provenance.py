"""What the report says about how the numbers were made: config, code version, software, machine,
and the time and memory of every job (from Snakemake's `benchmark:` files); always its last section."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from leukoflow.core.errors import DatasetError
from leukoflow.report.html import Section, esc, html_table, is_missing

# Distribution names (as pip knows them) -> the name shown in the report.
PACKAGES = {
    "leukoflow": "leukoflow",
    "torch": "torch",
    "pytorch-lightning": "pytorch_lightning",
    "snakemake": "snakemake",
    "scikit-image": "skimage",
    "numpy": "numpy",
    "scikit-learn": "sklearn",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
}

BENCHMARK_COLUMNS = ["rule", "job", "seconds", "max_rss_mb", "finished"]


def git_commit(directory: str | Path) -> str:
    """`git rev-parse HEAD` of the workflow folder, flagged when the tree has uncommitted changes;
    "unknown" when it is not a git checkout, has no commit, or git is missing."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    try:
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        dirty = False
    return commit + (" (with uncommitted changes)" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for distribution, shown in PACKAGES.items():
        try:
            versions[shown] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[shown] = "not installed"
    return versions


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def device_description() -> dict[str, str]:
    """The machine that rendered the report (on a cluster, training may have run elsewhere)."""
    import os

    info = {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": f"{cpu_model()} ({os.cpu_count()} logical cores)",
    }
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = "; ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        else:
            info["gpu"] = "none visible to torch"
    except ImportError:
        info["gpu"] = "unknown (torch not importable)"
    return info


def read_benchmarks(directory: str | Path, exclude: tuple[str | Path, ...] = ()) -> pd.DataFrame:
    """One row per benchmark file under `directory`: rule, job, wall seconds, max RSS, finish time.

    Layout convention of this workflow: `benchmarks/<rule>/<job>.tsv` or `benchmarks/<rule>.tsv`.
    Snakemake writes one row per repeat; repeats are averaged. The file's mtime is when the job
    finished (Snakemake writes it right after the job).
    """
    directory = Path(directory)
    skip = {Path(p).resolve() for p in exclude}
    rows = []
    for path in sorted(directory.rglob("*.tsv")) if directory.is_dir() else []:
        if path.resolve() in skip:
            continue
        try:
            bench = pd.read_csv(path, sep="\t")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DatasetError(path, f"not a Snakemake benchmark table ({exc})") from exc
        if "s" not in bench.columns or bench.empty:
            raise DatasetError(path, "not a Snakemake benchmark table (no rows or no column 's')")
        relative = path.relative_to(directory).with_suffix("")
        rule = relative.parts[0]
        job = "/".join(relative.parts[1:])
        rss = pd.to_numeric(bench.get("max_rss", pd.Series(dtype=float)), errors="coerce")
        rows.append(
            {
                "rule": rule,
                "job": job,
                "seconds": float(pd.to_numeric(bench["s"], errors="coerce").mean()),
                "max_rss_mb": float(rss.max()) if rss.notna().any() else float("nan"),
                "finished": path.stat().st_mtime,
            }
        )
    return pd.DataFrame(rows, columns=BENCHMARK_COLUMNS)


@dataclass(frozen=True)
class RunSpan:
    start: float | None  # earliest job start: benchmark mtime minus its wall seconds
    end: float | None  # latest job end: latest benchmark mtime
    n_jobs: int


def run_span(benchmarks: pd.DataFrame) -> RunSpan:
    if benchmarks.empty:
        return RunSpan(None, None, 0)
    starts = benchmarks["finished"] - benchmarks["seconds"].fillna(0)
    return RunSpan(float(starts.min()), float(benchmarks["finished"].max()), len(benchmarks))


def timestamp(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


@dataclass
class Provenance:
    config: dict
    commit: str
    versions: dict[str, str]
    device: dict[str, str]
    benchmarks: pd.DataFrame
    generated_at: float
    benchmarks_dir: str


def collect_provenance(config: dict, workflow_dir: str, benchmarks_dir: str, exclude: Sequence[str] = ()) -> Provenance:
    return Provenance(
        config=config,
        commit=git_commit(workflow_dir),
        versions=package_versions(),
        device=device_description(),
        benchmarks=read_benchmarks(benchmarks_dir, tuple(exclude)),
        generated_at=datetime.now().timestamp(),
        benchmarks_dir=str(benchmarks_dir),
    )


def render_provenance(provenance: Provenance) -> Section:
    span = run_span(provenance.benchmarks)
    facts = {
        "Report written": timestamp(provenance.generated_at),
        "Run span": (
            f"{timestamp(span.start)} to {timestamp(span.end)} over {span.n_jobs} jobs (earliest job start = "
            "benchmark file time minus its wall-clock seconds; latest job end = latest benchmark file time; "
            f"jobs kept from earlier invocations count too; benchmarks in {provenance.benchmarks_dir})"
            if span.n_jobs
            else "unknown (no benchmark files)"
        ),
        "Git commit": provenance.commit,
        **{f"Device: {k}": v for k, v in provenance.device.items()},
    }
    facts_html = "<dl class='kv'>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts.items()) + "</dl>"
    versions = html_table(["Package", "Version"], provenance.versions.items(), table_id="versions")
    bench = provenance.benchmarks.sort_values(["finished", "rule", "job"])
    bench_rows = [
        [
            r.rule,
            r.job or "—",
            f"{r.seconds:.2f}",
            "" if is_missing(r.max_rss_mb) else f"{r.max_rss_mb:.0f}",
            timestamp(r.finished),
        ]
        for r in bench.itertuples()
    ]
    total = f"sum of job wall times {bench['seconds'].sum():.1f} s" if len(bench) else "no benchmark files"
    bench_html = html_table(
        ["Rule", "Job", "Seconds", "Max RSS (MB)", "Finished"],
        bench_rows,
        table_id="benchmarks",
        caption=f"Time and memory per job ({total}).",
    )
    config = yaml.safe_dump(provenance.config, sort_keys=False, default_flow_style=False)
    body = (
        facts_html
        + "<h3 id='prov-versions'>Software</h3>"
        + versions
        + "<h3 id='prov-jobs'>Jobs</h3>"
        + bench_html
        + "<h3 id='prov-config'>Configuration</h3>"
        + f"<pre>{esc(config)}</pre>"
    )
    return Section(
        "provenance",
        "Provenance",
        body,
        [("prov-versions", "Software"), ("prov-jobs", "Jobs"), ("prov-config", "Configuration")],
    )
