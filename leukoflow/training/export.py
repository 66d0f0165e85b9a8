"""Turn a training run's best checkpoint into a plain exported file, and its history into CSV."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from leukoflow.core.errors import DatasetError
from leukoflow.core.images import IMAGENET_MEAN, IMAGENET_STD
from leukoflow.core.io import atomic_path
from leukoflow.inference import EXPORT_FORMAT
from leukoflow.training.config import HISTORY_KEY, TrainConfig


def export_best(
    best_path: Path,
    model: nn.Module,
    history: list[Mapping[str, float]],
    cfg: TrainConfig,
    target: str | Path,
    *,
    columns: Sequence[str],
    task: str,
    normalisation: str,
) -> Mapping[str, float]:
    """Write the best checkpoint's network weights + metadata as a weights_only-loadable dict.

    Returns
    -------
    Mapping[str, float]
        The history row of the exported epoch.

    Raises
    ------
    DatasetError
        When the checkpoint's epoch is missing from the history.
    """
    # mmap: the optimizer state in the checkpoint (as large as the model) is never read.
    best_ckpt = torch.load(best_path, map_location="cpu", weights_only=True, mmap=True)
    best_epoch = int(best_ckpt["epoch"])
    best_row = next((row for row in history if row["epoch"] == best_epoch), None)
    if best_row is None:
        raise DatasetError(best_path, f"epoch {best_epoch} missing from the training history")
    state = {key[len("model.") :]: value for key, value in best_ckpt["state_dict"].items() if key.startswith("model.")}
    export_network(model, state, best_row, cfg, target, columns=columns, task=task, normalisation=normalisation)
    return best_row


def export_network(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    row: Mapping[str, float],
    cfg: TrainConfig,
    target: str | Path,
    *,
    columns: Sequence[str],
    task: str,
    normalisation: str,
) -> None:
    """Write `model`'s architecture with the weights `state` of the history row `row` (its
    epoch and metrics) as the exported-model dict (`leukoflow.inference` reads it), atomically."""
    payload = {
        "format": EXPORT_FORMAT,
        "task": task,
        "architecture": f"{type(model).__module__}:{type(model).__qualname__}",
        "arch_kwargs": plain(getattr(model, "arch_kwargs", None)),
        # contiguous(): GPU training keeps conv weights channels_last; export the standard layout.
        "state_dict": {key: value.detach().cpu().contiguous() for key, value in state.items()},
        "epoch": int(row["epoch"]),
        "metrics": {key: float(row[key]) for key in columns[1:]},
        "monitor": cfg.monitor,
        "input": {
            "dtype": "float32" if normalisation == "none" else "uint8",
            "layout": "NCHW",
            "normalisation": normalisation,
            **({"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)} if normalisation == "imagenet" else {}),
        },
        "train_config": plain(dataclasses.asdict(cfg)),
    }
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)


def checkpoint_history(checkpoint: Path) -> list[dict[str, float]]:
    """The per-epoch history stored in a checkpoint written by `fit` (reads no tensor data).

    Raises
    ------
    DatasetError
        When the checkpoint cannot be read; the message says to delete it.
    """
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        return [dict(row) for row in state[HISTORY_KEY]]
    except Exception as exc:
        raise DatasetError(
            checkpoint,
            f"cannot resume from this checkpoint ({type(exc).__name__}: {exc}); delete it to train from scratch",
        ) from exc


def completed_epochs(checkpoint: Path) -> int:
    """Number of finished epochs recorded in a checkpoint written by `fit`."""
    return len(checkpoint_history(checkpoint))


def write_history_csv(history: list[Mapping[str, float]], columns: Sequence[str], target: str | Path) -> None:
    import pandas as pd

    table = pd.DataFrame(list(history), columns=list(columns))
    with atomic_path(target) as tmp:
        table.to_csv(tmp, index=False)


def plain(value):
    """Tuples -> lists etc., so the exported dict holds only what weights_only loading accepts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    raise TypeError(f"arch_kwargs must hold plain values, got {type(value).__name__}")
