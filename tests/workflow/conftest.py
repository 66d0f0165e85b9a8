"""One tiny end-to-end run of the whole workflow, shared by the tests that only read its results.

The browser test, the SLURM test (its local reference run) and the log checks all need the same
run of tests/configs/tiny.yaml; running it once per session instead of once per test keeps the
suite's two longest tests from each paying for their own. Under pytest-xdist the run is shared
across workers too: the first worker to ask runs it while holding a file lock, the others wait
for it and read the record it leaves (`run.json`), failures included, so a failed run fails every
test that uses it with snakemake's own output, and is not retried once per worker.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO, run_snakemake

TINY_CONFIG = REPO / "tests" / "configs" / "tiny.yaml"
TINY_TARGET = "results/report/index.html"


@dataclass(frozen=True)
class TinyRun:
    workdir: Path
    config_name: str  # the --configfile, relative to workdir
    seconds: float  # wall time of the run (by whichever worker ran it)

    @property
    def results(self) -> Path:
        return self.workdir / "results"


def _shared_folder(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # Each xdist worker has its own basetemp inside the session's folder: share the parent.
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _run_once(workdir: Path, record: Path) -> None:
    if workdir.exists():  # left by a worker that died mid-run: start clean
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    shutil.copytree(REPO / "config", workdir / "config")
    (workdir / "tiny.yaml").write_text(TINY_CONFIG.read_text())
    started = time.perf_counter()
    result = run_snakemake(workdir, TINY_TARGET, "--cores", "2", "--configfile", "tiny.yaml", check=False)
    outcome = {
        "returncode": result.returncode,
        "seconds": time.perf_counter() - started,
        "output": "" if result.returncode == 0 else f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}",
    }
    record.write_text(json.dumps(outcome))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> TinyRun:
    """The tiny workflow run to its report (tests/configs/tiny.yaml, `--cores 2`), read-only for tests."""
    shared = _shared_folder(tmp_path_factory)
    workdir, record = shared / "tiny-run", shared / "tiny-run.json"
    with open(shared / "tiny-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not record.exists():
            _run_once(workdir, record)
    outcome = json.loads(record.read_text())
    if outcome["returncode"] != 0:
        pytest.fail(f"the shared tiny run failed ({outcome['returncode']}):\n{outcome['output']}")
    return TinyRun(workdir, "tiny.yaml", outcome["seconds"])
