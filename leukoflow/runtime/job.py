"""What every `scripts/*.py` needs around its one library call: logging into the rule's log
file, thread limits, and an error line that names the problem instead of a bare traceback."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable


def setup_logging(log_path: str | None) -> logging.Logger:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)
    return logging.getLogger("leukoflow")


def limit_threads(n: int) -> None:
    """Keep numeric libraries to the threads Snakemake granted this job."""
    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)


def run(smk, body: Callable[[object, logging.Logger], None]) -> None:
    """Run a rule's body with logging set up; failures are logged as one line, then re-raised."""
    log = setup_logging(smk.log[0] if len(smk.log) else None)
    limit_threads(getattr(smk, "threads", 1))
    name = getattr(smk, "rule", "job")
    log.info("rule %s started (wildcards: %s)", name, dict(smk.wildcards.items()))
    # Before any CUDA call: give a local GPU job its own device and log what the job was given.
    from leukoflow.runtime import gpu as cluster

    cluster.setup_gpu(int(getattr(smk.resources, "gpu", 0) or 0), log)
    start = time.perf_counter()
    try:
        body(smk, log)
    except Exception as exc:
        log.error("rule %s failed: %s", name, exc)
        raise
    log.info("rule %s finished in %.1f s", name, time.perf_counter() - start)
