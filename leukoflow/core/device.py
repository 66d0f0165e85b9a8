"""Which device a job computes on: one policy for training and for jobs that only run a network.

Always a single device: the workflow gives each training or inference its own job, and a GPU job
sees its GPU as the first visible CUDA device (SLURM or `leukoflow.runtime.gpu` set
CUDA_VISIBLE_DEVICES before torch starts).
"""

from __future__ import annotations

import logging
import warnings

import torch

from leukoflow.core.errors import ConfigError

log = logging.getLogger(__name__)

ACCELERATORS = ("auto", "cpu", "gpu")


def resolve_accelerator(accelerator: str, allow_cpu_fallback: bool) -> str:
    """ "gpu" or "cpu" for a job configured with `accelerator` (auto, cpu or gpu).

    Parameters
    ----------
    accelerator : {"auto", "cpu", "gpu"}
        auto takes a GPU when CUDA sees one; cpu never touches a GPU; gpu demands one.
    allow_cpu_fallback : bool
        With "gpu" and no CUDA device: run on the CPU with a warning instead of failing.

    Raises
    ------
    ConfigError
        "gpu" without CUDA and without `allow_cpu_fallback`, so a GPU job never silently runs for
        days on a CPU; or an unknown accelerator.
    """
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"compute.accelerator: expected one of {ACCELERATORS}, got {accelerator!r}")
    cuda = torch.cuda.is_available()
    if accelerator == "gpu" and not cuda:
        message = (
            f"compute.accelerator: 'gpu' requested but CUDA is not available "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'})"
        )
        if not allow_cpu_fallback:
            raise ConfigError(message + "; set allow_cpu_fallback: true to run on the CPU instead")
        warnings.warn(
            message + "; allow_cpu_fallback is set, so the job runs on the CPU (slow)", RuntimeWarning, stacklevel=2
        )
        log.warning("%s; falling back to the CPU", message)
        return "cpu"
    if accelerator == "auto":
        return "gpu" if cuda else "cpu"
    return accelerator


def job_device(accelerator: str, allow_cpu_fallback: bool) -> torch.device:
    """The torch device of a job that runs a network without training it (augmentation, heatmaps,
    patch scoring, predictions): the policy of `resolve_accelerator`."""
    return torch.device("cuda" if resolve_accelerator(accelerator, allow_cpu_fallback) == "gpu" else "cpu")


def default_precision(accelerator: str) -> str:
    """Lightning precision for a resolved accelerator: bf16 mixed on GPUs, float32 on CPUs."""
    return "bf16-mixed" if accelerator == "gpu" else "32-true"
