"""Which GPU a job uses: one per GPU job, recorded in the rule's log.

SLURM grants a GPU job its device and exports it as CUDA_VISIBLE_DEVICES (torch then sees only
that one, as cuda:0). On a workstation Snakemake's `--resources gpu=N` only counts GPU jobs and
never says which device a job gets, so `claim_gpu` gives each local GPU job a GPU of its own.
`setup_gpu` is the one call a rule script needs (through `glue.run`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping

# In the order they are logged; absent ones are left out of the line.
ALLOCATION_VARIABLES = (
    "SLURM_JOB_ID",
    "SLURM_JOB_NODELIST",
    "SLURM_JOB_GPUS",
    "SLURM_CPUS_PER_TASK",
    "SLURM_CPUS_PER_GPU",
    "SLURM_MEM_PER_NODE",
    "CUDA_VISIBLE_DEVICES",
)


def allocation_line(environ: Mapping[str, str]) -> str:
    """`allocation: NAME=VALUE ...` for the allocation variables present in `environ`.

    A job outside SLURM with no CUDA_VISIBLE_DEVICES reads `allocation: local, all visible
    devices`, so a log always says which case it was.
    """
    present = [f"{name}={environ[name]}" for name in ALLOCATION_VARIABLES if name in environ]
    if not present:
        return "allocation: local, all visible devices"
    return "allocation: " + " ".join(present)


def log_allocation(log: logging.Logger, environ: Mapping[str, str] | None = None) -> str:
    """Log this process's allocation line at INFO and return it."""
    line = allocation_line(os.environ if environ is None else environ)
    log.info("%s", line)
    return line


# Device files held open (and so locked) for the life of the process that claimed them.
_HELD_CLAIMS: list = []


def gpu_pool(environ: Mapping[str, str], driver_dir: str = "/proc/driver/nvidia/gpus") -> list[str]:
    """The GPU ids this process may use: CUDA_VISIBLE_DEVICES when set, else every GPU the NVIDIA
    driver lists (read without initialising CUDA, which would freeze the device list)."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [part.strip() for part in visible.split(",") if part.strip()]
    try:
        return [str(i) for i in range(len(os.listdir(driver_dir)))]
    except OSError:
        return []


def claim_gpu(
    n_gpus: int,
    environ: MutableMapping[str, str] | None = None,
    lock_dir: str | None = None,
) -> str | None:
    """Give a local GPU job one GPU of its own by exporting CUDA_VISIBLE_DEVICES=<id>.

    Snakemake's `--resources gpu=N` only counts GPU jobs; it never says which device a job gets,
    so N jobs would all open GPU 0. Each job therefore takes the first GPU of the pool whose
    lock file it can lock (flock, released by the kernel when the job's process exits). Under
    SLURM, or with at most one GPU in the pool, the environment already names the right device
    and is left alone. Returns the claimed id, or None when nothing was changed. Must run
    before CUDA is initialised (before the first torch.cuda call).
    """
    import fcntl
    import tempfile

    env = os.environ if environ is None else environ
    if n_gpus < 1 or "SLURM_JOB_ID" in env:
        return None
    pool = gpu_pool(env)
    if len(pool) <= 1:
        return None
    if n_gpus > 1:
        raise ValueError(f"claim_gpu: a job asked for {n_gpus} GPUs; jobs here use one GPU each")
    folder = lock_dir or os.path.join(tempfile.gettempdir(), f"leukoflow-gpu-locks-{os.getuid()}")
    os.makedirs(folder, exist_ok=True)
    for gpu in pool:
        handle = open(os.path.join(folder, f"gpu-{gpu}.lock"), "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _HELD_CLAIMS.append(handle)
        env["CUDA_VISIBLE_DEVICES"] = gpu
        return gpu
    raise RuntimeError(
        f"claim_gpu: all GPUs {pool} are held by other jobs (locks in {folder}); "
        "run with --resources gpu=N where N is at most the number of GPUs"
    )


def setup_gpu(n_gpus: int, log: logging.Logger) -> str:
    """Claim a GPU for a local GPU job (see `claim_gpu`), then log the allocation line."""
    claim_gpu(n_gpus)
    return log_allocation(log)
