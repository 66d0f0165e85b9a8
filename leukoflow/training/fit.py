"""`fit`: one training loop for every network of the workflow (classifiers and segmenters).

    summary = fit(model, train_x, train_y, val_x, val_y, cfg, state_dir, best_out, history_out)
    summary = fit(unet, train_x, train_masks, val_x, val_masks, cfg, ..., task="segmenter")

Images stay in memory as one uint8 tensor (see `training.data`); the system (`training.systems`)
supplies loss and metrics; a job killed mid-run resumes from its last finished epoch.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from torch import nn

from leukoflow.core.device import default_precision, resolve_accelerator
from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.core.images import check_images
from leukoflow.core.io import write_text_atomic
from leukoflow.training.config import TrainConfig, history_columns, training_finished
from leukoflow.training.data import make_loader
from leukoflow.training.export import checkpoint_history, export_best, write_history_csv
from leukoflow.training.systems import SYSTEMS

log = logging.getLogger(__name__)

# Lightning, when it finds `srun`, suggests it for multi-process runs (at Trainer creation). A
# job here is one process on one device; the workflow gives each training its own job.
warnings.filterwarnings("ignore", message=".*The `srun` command is available on your system.*")

DEFAULT_NORMALISATION = {"classifier": "imagenet", "segmenter": "unit"}


def resolve_device(cfg: TrainConfig) -> tuple[str, str]:
    """(Lightning accelerator, precision) for this job: see `core.device.resolve_accelerator`."""
    accelerator = resolve_accelerator(cfg.accelerator, cfg.allow_cpu_fallback)
    return accelerator, cfg.precision or default_precision(accelerator)


def fit(
    model: nn.Module,
    train_x,
    train_y,
    val_x,
    val_y,
    cfg: TrainConfig,
    state_dir: str | Path,
    best_out: str | Path,
    metrics_csv_out: str | Path,
    *,
    task: str = "classifier",
    normalisation: str | None = None,
) -> dict[str, Any]:
    """Train `model` in place; export its best epoch to `best_out` and the history to CSV.

    Parameters
    ----------
    model : nn.Module
        A classifier returning log-probabilities, or a segmenter returning (N, 1, H, W) logits.
    train_x, val_x : array-like
        uint8 (N, C, H, W) images (float32 feature maps with normalisation "none").
    train_y, val_y : array-like
        Class labels (N,) for a classifier, uint8 masks (N, H, W) for a segmenter.
    cfg : TrainConfig
    state_dir : path
        Resumable state (Lightning checkpoints `last.ckpt`, `best-<epoch>.ckpt`, CSV logs). Must not
        be a declared workflow output: Snakemake deletes those when a job fails. If `last.ckpt`
        exists the run resumes from it; raising `cfg.epochs` extends a finished run. State left by
        a run on other data or settings (`fingerprint.json` differs) is deleted first.
    best_out, metrics_csv_out : path
        The exported best epoch (lowest val loss, or highest score with `cfg.monitor`) and the
        per-epoch history.
    task : {"classifier", "segmenter"}
    normalisation : {"imagenet", "unit", "signed", "none"}, optional
        Input normalisation; default imagenet for classifiers, unit for segmenters.

    Returns
    -------
    dict
        best_epoch, best_val_loss, best_val_<score>, epochs_completed, resumed_from_epoch,
        stopped_early, accelerator, precision, best_checkpoint.

    Raises
    ------
    ConfigError
        For an unknown task, a loss that does not fit the task, or a monitor the task lacks.
    DatasetError
        When no best checkpoint exists after training or a checkpoint cannot be read.
    """
    if task not in SYSTEMS:
        raise ConfigError(f"training task must be one of {sorted(SYSTEMS)}, got {task!r}")
    system_class = SYSTEMS[task]
    normalisation = normalisation or DEFAULT_NORMALISATION[task]
    features = normalisation == "none"  # float maps of frozen layers, not images
    channels = None if features else (3,) if task == "classifier" else (1, 3)
    train_x, train_y = check_images(train_x, train_y, name="train", channels=channels, features=features)
    val_x, val_y = check_images(val_x, val_y, name="val", channels=channels, features=features)
    if train_x.shape[0] == 0 or val_x.shape[0] == 0:
        raise ValueError(f"fit needs training and validation images, got {train_x.shape[0]} and {val_x.shape[0]}")
    _check_task_settings(cfg, task, system_class.score)
    columns = history_columns(system_class.score)

    accelerator, precision = resolve_device(cfg)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = run_fingerprint(model, cfg, task, normalisation, (train_x, train_y, val_x, val_y))
    _forget_other_runs(state_dir, fingerprint)
    last = state_dir / "last.ckpt"
    previous = checkpoint_history(last) if last.exists() else []

    if accelerator == "gpu":
        model = model.to(memory_format=torch.channels_last)  # cuDNN's fast layout for convolutions
    system = system_class(model, cfg, normalisation, train_x.shape[1])
    checkpoint = ModelCheckpoint(
        dirpath=state_dir,
        filename="best-{epoch:03d}",
        monitor=cfg.monitor,
        mode=cfg.monitor_mode(),
        save_top_k=1,
        enable_version_counter=False,
    )
    if previous and training_finished(previous, cfg):
        # Killed after training ended (all epochs, or early stopping) but before the export.
        system.history = previous
        best_path = _existing_best(state_dir)
        stopped_early = len(previous) < cfg.epochs
    else:
        trainer = _trainer(cfg, accelerator, precision, state_dir, len(previous), checkpoint)
        pin = accelerator == "gpu"
        train_loader = make_loader(train_x, train_y, cfg.batch_size, shuffle=True, seed=cfg.seed, pin_memory=pin)
        val_loader = make_loader(val_x, val_y, cfg.batch_size, shuffle=False, pin_memory=pin)
        # Lightning builds (and prefetches from) the first epoch's iterator before its set_epoch
        # call, so a resumed run must be told its starting epoch to replay the right batch order.
        train_loader.sampler.set_epoch(len(previous))
        with warnings.catch_warnings():
            # In-memory batches need no worker processes; Lightning's hint assumes file-reading loaders.
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            # last.ckpt sits beside the logs in state_dir by design (and is expected there on resume).
            warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
            trainer.fit(system, train_loader, val_loader, ckpt_path=str(last) if last.exists() else None)
        best_path = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
        stopped_early = len(system.history) < cfg.epochs
    if best_path is None or not best_path.is_file():
        raise DatasetError(
            state_dir, f"no best checkpoint after training (expected {best_path}); delete the folder to start over"
        )
    best_row = export_best(
        best_path, model, system.history, cfg, best_out, columns=columns, task=task, normalisation=normalisation
    )
    write_history_csv(system.history, columns, metrics_csv_out)
    score = system_class.score
    return {
        "best_epoch": int(best_row["epoch"]),
        "best_val_loss": float(best_row["val_loss"]),
        f"best_val_{score}": float(best_row[f"val_{score}"]),
        "epochs_completed": len(system.history),
        "resumed_from_epoch": len(previous),
        "stopped_early": stopped_early,
        "accelerator": accelerator,
        "precision": precision,
        "best_checkpoint": str(best_path),
    }


# Settings that may change between attempts of one run without making it another run: raising
# `epochs` extends a finished run; the device and threads are where it runs, not what it learns.
RUNTIME_SETTINGS = ("epochs", "num_threads", "progress_bar", "accelerator", "allow_cpu_fallback", "precision")
FINGERPRINT_FILE = "fingerprint.json"


def run_fingerprint(model: nn.Module, cfg: TrainConfig, task: str, normalisation: str, tensors) -> dict:
    """What a training run learns from: its data and starting weights (hashed), settings, task and
    network. Call before training: the weights hashed are the initial ones."""
    import dataclasses
    import hashlib

    def digest_of(tensors) -> str:
        digest = hashlib.blake2b(digest_size=16)
        for tensor in tensors:
            digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
            flat = tensor.detach().cpu().contiguous().reshape(-1)  # 0-d buffers (batch-norm counts) too
            digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        return digest.hexdigest()

    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RUNTIME_SETTINGS}
    return {
        "data": digest_of(tensors),
        # The starting weights too: pretrained trunks, or another stage's models, may change.
        "initial_weights": digest_of(model.state_dict().values()),
        "settings": json.loads(json.dumps(settings, default=list)),
        "task": task,
        "normalisation": normalisation,
        "architecture": f"{type(model).__module__}:{type(model).__qualname__}",
        "arch_kwargs": json.loads(json.dumps(getattr(model, "arch_kwargs", None), default=list)),
    }


def _forget_other_runs(state_dir: Path, fingerprint: dict) -> None:
    """Delete resumable state left by a run on other data or settings (a rerun after an input or
    a setting changed must train from scratch, not resume or re-export the old run), then record
    this run's fingerprint."""
    import shutil

    record = state_dir / FINGERPRINT_FILE
    if record.exists():
        try:
            previous = json.loads(record.read_text())
        except (OSError, ValueError):
            previous = None
        if previous == fingerprint:
            return
        changed = sorted(k for k in fingerprint if not previous or previous.get(k) != fingerprint[k])
        log.warning("%s holds the state of another run (changed: %s): training from scratch", state_dir, changed)
    elif any(state_dir.glob("*.ckpt")):
        log.warning("%s holds checkpoints without a fingerprint: training from scratch", state_dir)
    for item in state_dir.iterdir():
        shutil.rmtree(item) if item.is_dir() else item.unlink()
    write_text_atomic(record, json.dumps(fingerprint, indent=2, sort_keys=True) + "\n")


def _check_task_settings(cfg: TrainConfig, task: str, score: str) -> None:
    from leukoflow.training.config import LOSSES

    if cfg.loss not in LOSSES[task]:
        raise ConfigError(f"training.loss: {cfg.loss!r} does not apply to a {task}; expected one of {LOSSES[task]}")
    if cfg.monitor not in ("val_loss", f"val_{score}"):
        raise ConfigError(f"training.monitor: a {task} records val_loss and val_{score}, not {cfg.monitor!r}")


def _trainer(
    cfg: TrainConfig, accelerator: str, precision: str, state_dir: Path, done: int, checkpoint: ModelCheckpoint
) -> pl.Trainer:
    # The resume point, rewritten after every epoch. Lightning's own `save_last=True` only writes
    # last.ckpt when the monitored metric improves, so a job killed after its best epoch would
    # restart from the best epoch and redo the rest; an unmonitored top-1 checkpoint named
    # "last" is saved every epoch instead.
    last_epoch = ModelCheckpoint(
        dirpath=state_dir,
        filename="last",
        monitor=None,
        save_top_k=1,
        every_n_epochs=1,
        enable_version_counter=False,  # stable name: last.ckpt is what a restart looks for
    )
    callbacks = [checkpoint, last_epoch]
    if cfg.early_stopping_patience:
        callbacks.append(
            EarlyStopping(monitor=cfg.monitor, mode=cfg.monitor_mode(), patience=cfg.early_stopping_patience)
        )
    # Bars only where someone watches; log files get the systems' one line per epoch instead.
    interactive = cfg.progress_bar and sys.stderr.isatty()
    return pl.Trainer(
        max_epochs=cfg.epochs,
        accelerator=accelerator,
        devices=1,
        precision=precision,
        # One log folder per attempt: CSVLogger would otherwise delete the earlier attempt's file.
        logger=CSVLogger(save_dir=state_dir, name="csv_logs", version=f"from_epoch_{done:03d}"),
        callbacks=callbacks,
        default_root_dir=state_dir,
        enable_progress_bar=interactive,
        enable_model_summary=interactive,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        deterministic="warn" if cfg.deterministic else False,
        use_distributed_sampler=False,
    )


def _existing_best(state_dir: Path) -> Path | None:
    candidates = sorted(state_dir.glob("best-*.ckpt"))
    return candidates[-1] if candidates else None
