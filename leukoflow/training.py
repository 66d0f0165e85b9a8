"""Lightning training of any log-probability classifier on in-memory uint8 image tensors.

Shared by every dataset that trains a classifier (the ALL-IDB2 AlexNet network, C-NMC backbones,
small CNNs): nothing here knows the architecture. A model is any `nn.Module` mapping a normalised
float batch (N, 3, S, S) to log-probabilities (N, n_classes). Models that expose `arch_kwargs`
(their constructor arguments) and live in the `leukoflow` package can be rebuilt from an exported
file by `load_exported` alone; others are loaded into an instance the caller supplies.

Data path: images stay in memory as one uint8 tensor (N, 3, S, S) plus int64 labels. An index
sampler yields one index tensor per batch (a fresh seeded permutation per epoch), the batch is a
single gather `x[idx]`, and conversion to float, ImageNet normalisation and (on GPU)
channels_last happen on the device in `on_after_batch_transfer`. No per-item Python work, no
file reads, and the host copies 1 byte per pixel instead of 4.

The paper's "learning decay rate 0.001" (Ghosh, Singh & Sheet 2017) has two readings, both
available in `TrainConfig`:
  * `lr_decay` (DEFAULT 0.001): inverse-time learning-rate decay, lr_e = lr / (1 + lr_decay * e)
    with e the epoch index (`lr_decay_interval="epoch"`) or the optimiser step ("step").
  * `weight_decay` (default 0): L2 penalty in SGD.
The default is the learning-rate reading because the phrase qualifies the learning rate, and
"learning rate decay" with a value of this size is the inverse-time `learningRateDecay` option
of Torch7's `optim.sgd`. Torch7 applies it per step; the default here is per epoch, as the
project brief specifies. Per epoch it is mild (25 epochs: 0.02 -> 0.0195); per step it is
strong (about 3,700 steps at 9,360 images and batch 64: 0.02 -> 0.0043).
Set `lr_decay: 0, weight_decay: 0.001` for the other reading.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from torch import nn

from leukoflow.errors import ConfigError, DatasetError
from leukoflow.io import atomic_path

log = logging.getLogger(__name__)

# Lightning, when it finds `srun`, suggests it for multi-process runs (at Trainer creation). A
# job here is one process on one device, the workflow gives each training its own job.
warnings.filterwarnings("ignore", message=".*The `srun` command is available on your system.*")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EXPORT_FORMAT = "leukoflow.classifier/1"
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr")
_HISTORY_KEY = "leukoflow_history"


# --------------------------------------------------------------------------------------------
# configuration and device choice


@dataclass
class TrainConfig:
    """Training settings. Defaults are the paper's where it gives them (25 epochs, lr 0.02,
    decay 0.001 read as learning-rate decay: see the module docstring); momentum 0.9 and batch 64
    are common choices the paper does not state.

    monitor: which validation metric picks the exported "best" epoch. Default "val_loss": on
    small validation sets accuracy moves in coarse steps and ties often, while the loss still
    ranks epochs.
    precision: None -> "bf16-mixed" on GPU, "32-true" on CPU; any Lightning precision string
    overrides.
    deterministic: Lightning's deterministic mode in "warn" form (a nondeterministic CUDA kernel
    warns instead of aborting the run).
    """

    epochs: int = 25
    lr: float = 0.02
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_decay: float = 0.001
    lr_decay_interval: str = "epoch"
    batch_size: int = 64
    seed: int = 0
    accelerator: str = "auto"
    allow_cpu_fallback: bool = False
    precision: str | None = None
    num_threads: int | None = None
    progress_bar: bool = False
    monitor: str = "val_loss"
    deterministic: bool = True

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "lr": self.lr > 0,
            "optimizer": self.optimizer in ("sgd", "adam"),
            "momentum": 0 <= self.momentum < 1,
            "weight_decay": self.weight_decay >= 0,
            "lr_decay": self.lr_decay >= 0,
            "lr_decay_interval": self.lr_decay_interval in ("epoch", "step"),
            "batch_size": self.batch_size >= 1,
            "accelerator": self.accelerator in ("auto", "cpu", "gpu"),
            "num_threads": self.num_threads is None or self.num_threads >= 1,
            "monitor": self.monitor in ("val_loss", "val_acc"),
        }
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"training.{key}: invalid value {getattr(self, key)!r}")

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any]) -> "TrainConfig":
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"training: unknown keys {unknown}; known keys are {sorted(known)}")
        return cls(**settings)


def resolve_device(cfg: TrainConfig) -> tuple[str, str]:
    """(Lightning accelerator, precision) for this job: always a single device.

    "gpu" without CUDA is an error unless `allow_cpu_fallback`, so a GPU job never silently runs
    for days on a CPU. The visible GPU is whatever CUDA_VISIBLE_DEVICES exposes first.
    """
    cuda = torch.cuda.is_available()
    if cfg.accelerator == "gpu" and not cuda:
        message = (
            f"training.accelerator: 'gpu' requested but CUDA is not available "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'})"
        )
        if not cfg.allow_cpu_fallback:
            raise ConfigError(message + "; set allow_cpu_fallback: true to train on the CPU instead")
        warnings.warn(message + "; allow_cpu_fallback is set, so training runs on the CPU (slow)", RuntimeWarning)
        log.warning("%s; falling back to the CPU", message)
        accelerator = "cpu"
    elif cfg.accelerator == "auto":
        accelerator = "gpu" if cuda else "cpu"
    else:
        accelerator = cfg.accelerator
    precision = cfg.precision or ("bf16-mixed" if accelerator == "gpu" else "32-true")
    return accelerator, precision


def job_device(accelerator: str, allow_cpu_fallback: bool) -> torch.device:
    """The device of a job that runs the network without training it (augmentation, heatmaps,
    patch scoring, test predictions): the same policy as `resolve_device`, so `accelerator: cpu`
    never touches a GPU the job did not declare, and `gpu` without CUDA fails unless allowed."""
    accelerator, _ = resolve_device(TrainConfig(accelerator=accelerator, allow_cpu_fallback=allow_cpu_fallback))
    return torch.device("cuda" if accelerator == "gpu" else "cpu")


# --------------------------------------------------------------------------------------------
# in-memory data feeding


def _epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 63-bit seed per (run seed, epoch), the same in every process."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class EpochBatchSampler(torch.utils.data.Sampler):
    """Yields one int64 index tensor per batch: a seeded permutation per epoch, or in order.

    Lightning calls `set_epoch` at the start of every epoch (also after a resume), so the order of
    epoch e depends only on (seed, e): a resumed run sees the batches an uninterrupted one would.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int = 0):
        self.n, self.batch_size, self.shuffle, self.seed = int(n), int(batch_size), shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(_epoch_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.arange(self.n)
        return iter(order.split(self.batch_size))


class TensorBatches(torch.utils.data.Dataset):
    """Indexing with a tensor of indices returns the whole batch (x[idx], y[idx]) in one gather."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]


def make_loader(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool, seed: int = 0, pin_memory=False
) -> torch.utils.data.DataLoader:
    """A DataLoader over in-memory tensors that hands out whole uint8 batches (no collation)."""
    return torch.utils.data.DataLoader(
        TensorBatches(images, labels),
        batch_size=None,  # the sampler already yields batches of indices
        sampler=EpochBatchSampler(images.shape[0], batch_size, shuffle, seed),
        num_workers=0,  # a gather from RAM is far cheaper than shipping batches between processes
        pin_memory=pin_memory,
        # Its own generator: creating a DataLoader iterator otherwise draws a seed from the global
        # RNG, and Lightning creates the first iterator at a different point after a resume, which
        # would shift every dropout mask that follows.
        generator=torch.Generator().manual_seed(seed),
    )


def check_images(images, labels=None, *, name: str = "images") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validate/convert (N, 3, S, S) uint8 images (+ optional labels) to CPU tensors."""
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{name}: expected uint8 (N, 3, S, S), got {images.dtype} {tuple(images.shape)}")
    if labels is None:
        return images, None
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{name}: expected {images.shape[0]} labels, got shape {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"{name}: labels must be integers, got {labels.dtype}")
    if labels.numel() and labels.min() < 0:
        raise ValueError(f"{name}: labels must be >= 0")
    return images, labels.to(torch.int64)


def normalisation_constants(device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with (uint8 * scale + shift) == (x / 255 - mean) / std, shaped (1, 3, 1, 1)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return 1.0 / (255.0 * std), -mean / std


def normalise_batch(
    images: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, channels_last: bool = False
) -> torch.Tensor:
    """uint8 batch -> ImageNet-normalised float32, on whatever device the batch already is."""
    out = images.to(torch.float32).mul_(scale).add_(shift)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


# --------------------------------------------------------------------------------------------
# the Lightning module


class InverseTimeDecay:
    """LambdaLR factor 1 / (1 + decay * t); a class (not a lambda) so its state checkpoints."""

    def __init__(self, decay: float):
        self.decay = float(decay)

    def __call__(self, t: int) -> float:
        return 1.0 / (1.0 + self.decay * t)


class ClassifierModule(pl.LightningModule):
    """NLL training of a log-probability classifier with SGD + momentum (or Adam, see TrainConfig).

    Per epoch it records train/val loss and accuracy (sample-weighted means over the epoch) and
    the learning rate, logs them for Lightning (CSVLogger, ModelCheckpoint) and keeps them in
    `history`, which is stored in every checkpoint so a resumed run keeps its full record.
    """

    def __init__(self, model: nn.Module, cfg: TrainConfig):
        super().__init__()
        self.model = model
        self.cfg = cfg
        scale, shift = normalisation_constants("cpu")
        self.register_buffer("input_scale", scale, persistent=False)
        self.register_buffer("input_shift", shift, persistent=False)
        self.history: list[dict[str, float]] = []
        self._sums: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels = batch
        channels_last = images.device.type == "cuda"
        return normalise_batch(images, self.input_scale, self.input_shift, channels_last), labels

    def _step(self, batch, stage: str) -> torch.Tensor:
        images, labels = batch
        log_probs = self.model(images).float()
        loss = F.nll_loss(log_probs, labels)
        with torch.no_grad():
            # Accumulate on the device; one host sync per epoch instead of one per step.
            correct = (log_probs.argmax(dim=1) == labels).sum()
            n = labels.shape[0]
            self._sums[stage] += torch.stack([loss.detach() * n, correct.to(loss.dtype), loss.new_tensor(n)])
        return loss

    def on_train_epoch_start(self) -> None:
        # Lightning checkpoints do not hold RNG states; reseeding from (seed, epoch) makes dropout
        # in a resumed run identical to an uninterrupted one.
        torch.manual_seed(_epoch_seed(self.cfg.seed + 1, self.current_epoch))
        self._sums["train"] = torch.zeros(3, device=self.device)
        # The lr of the epoch's first step (Lightning may step an epoch scheduler before the
        # validation hooks run, so reading it there would show the next epoch's value).
        self._epoch_lr = float(self.trainer.optimizers[0].param_groups[0]["lr"])

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def on_validation_epoch_start(self) -> None:
        self._sums["val"] = torch.zeros(3, device=self.device)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        # Runs after the epoch's training batches and before ModelCheckpoint saves, so the
        # history row for this epoch is inside the checkpoint written for this epoch.
        if self.trainer.sanity_checking:
            return
        row: dict[str, float] = {"epoch": int(self.current_epoch)}
        for stage in ("train", "val"):
            sums = self._sums.get(stage)
            loss_sum, correct, n = sums.tolist() if sums is not None else (math.nan, math.nan, 0.0)
            row[f"{stage}_loss"] = loss_sum / n if n else math.nan
            row[f"{stage}_acc"] = correct / n if n else math.nan
        row["lr"] = getattr(self, "_epoch_lr", math.nan)
        self.history.append(row)
        self.log_dict({key: float(row[key]) for key in METRIC_COLUMNS[1:5]}, on_epoch=True, prog_bar=True)

    def configure_optimizers(self):
        if self.cfg.optimizer == "adam":
            # Not the paper's: Adam trains a randomly initialised AlexNet far faster than SGD,
            # which the CPU demo (no ImageNet weights offline) needs. `momentum` is unused here.
            optimizer = torch.optim.Adam(
                self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
            )
        else:
            optimizer = torch.optim.SGD(
                self.model.parameters(),
                lr=self.cfg.lr,
                momentum=self.cfg.momentum,
                weight_decay=self.cfg.weight_decay,
            )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, InverseTimeDecay(self.cfg.lr_decay))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.cfg.lr_decay_interval},
        }

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[_HISTORY_KEY] = [dict(row) for row in self.history]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = [dict(row) for row in checkpoint.get(_HISTORY_KEY, [])]


# --------------------------------------------------------------------------------------------
# fit / export / load / predict


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
) -> dict[str, Any]:
    """Train `model` (in place), export its best epoch to `best_out`, per-epoch metrics to CSV.

    `model` ends holding the last epoch's weights; the exported file holds the best epoch's.

    `state_dir` holds everything needed to resume (Lightning checkpoints `last.ckpt` and
    `best-<epoch>.ckpt`, CSVLogger logs) and must not be a declared workflow output: if
    `state_dir/last.ckpt` exists the run resumes from it, so a killed job continues from its last
    finished epoch; raising `cfg.epochs` and rerunning extends a finished run. The best epoch is
    the one with the lowest val loss (`cfg.monitor="val_acc"`: highest val accuracy).

    Returns a summary: best_epoch, best_val_loss, best_val_acc, epochs_completed,
    resumed_from_epoch, accelerator, precision, best_checkpoint.
    """
    train_x, train_y = check_images(train_x, train_y, name="train")
    val_x, val_y = check_images(val_x, val_y, name="val")
    if train_x.shape[0] == 0 or val_x.shape[0] == 0:
        raise ValueError(f"fit needs training and validation images, got {train_x.shape[0]} and {val_x.shape[0]}")
    accelerator, precision = resolve_device(cfg)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)

    last = state_dir / "last.ckpt"
    done = completed_epochs(last) if last.exists() else 0

    if accelerator == "gpu":
        model = model.to(memory_format=torch.channels_last)  # cuDNN's fast layout for convolutions
    module = ClassifierModule(model, cfg)
    pin = accelerator == "gpu"
    train_loader = make_loader(train_x, train_y, cfg.batch_size, shuffle=True, seed=cfg.seed, pin_memory=pin)
    val_loader = make_loader(val_x, val_y, cfg.batch_size, shuffle=False, pin_memory=pin)
    checkpoint = ModelCheckpoint(
        dirpath=state_dir,
        filename="best-{epoch:03d}",
        monitor=cfg.monitor,
        mode="min" if cfg.monitor == "val_loss" else "max",
        save_top_k=1,
        enable_version_counter=False,
    )
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
    trainer = pl.Trainer(
        max_epochs=cfg.epochs,
        accelerator=accelerator,
        devices=1,
        precision=precision,
        # One log folder per attempt: CSVLogger would otherwise delete the earlier attempt's file.
        logger=CSVLogger(save_dir=state_dir, name="csv_logs", version=f"from_epoch_{done:03d}"),
        callbacks=[checkpoint, last_epoch],
        default_root_dir=state_dir,
        enable_progress_bar=cfg.progress_bar,
        enable_model_summary=cfg.progress_bar,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        deterministic="warn" if cfg.deterministic else False,
        use_distributed_sampler=False,
    )
    # Lightning builds (and prefetches from) the first epoch's iterator before its set_epoch call,
    # so a resumed run must be told its starting epoch up front to replay the right batch order.
    train_loader.sampler.set_epoch(done)
    with warnings.catch_warnings():
        # In-memory batches need no worker processes; Lightning's hint assumes file-reading loaders.
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        # last.ckpt sits beside the logs in state_dir by design (and is expected there on resume).
        warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
        trainer.fit(module, train_loader, val_loader, ckpt_path=str(last) if last.exists() else None)

    best_path = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    if best_path is None or not best_path.is_file():
        raise DatasetError(
            state_dir, f"no best checkpoint after training (expected {best_path}); delete the folder to start over"
        )
    best_row = export_best(best_path, model, module.history, cfg, best_out)
    write_metrics_csv(module.history, metrics_csv_out)
    return {
        "best_epoch": int(best_row["epoch"]),
        "best_val_loss": float(best_row["val_loss"]),
        "best_val_acc": float(best_row["val_acc"]),
        "epochs_completed": len(module.history),
        "resumed_from_epoch": done,
        "accelerator": accelerator,
        "precision": precision,
        "best_checkpoint": str(best_path),
    }


def export_best(
    best_path: Path, model: nn.Module, history: list[Mapping[str, float]], cfg: TrainConfig, target: str | Path
) -> Mapping[str, float]:
    """Write the best checkpoint's model weights + metadata as a plain dict (weights_only-loadable).

    Returns the history row of the exported epoch.
    """
    # mmap: the optimizer state in the checkpoint (as large as the model) is never read.
    best_ckpt = torch.load(best_path, map_location="cpu", weights_only=True, mmap=True)
    best_epoch = int(best_ckpt["epoch"])
    best_row = next((row for row in history if row["epoch"] == best_epoch), None)
    if best_row is None:
        raise DatasetError(best_path, f"epoch {best_epoch} missing from the training history")
    state = {key[len("model.") :]: value for key, value in best_ckpt["state_dict"].items() if key.startswith("model.")}
    payload = {
        "format": EXPORT_FORMAT,
        "architecture": f"{type(model).__module__}:{type(model).__qualname__}",
        "arch_kwargs": _plain(getattr(model, "arch_kwargs", None)),
        # contiguous(): GPU training keeps conv weights channels_last; export the standard layout.
        "state_dict": {key: value.contiguous() for key, value in state.items()},
        "epoch": best_epoch,
        "metrics": {key: float(best_row[key]) for key in METRIC_COLUMNS[1:]},
        "monitor": cfg.monitor,
        "input": {"dtype": "uint8", "layout": "NCHW RGB", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "train_config": dataclasses.asdict(cfg),
    }
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    return best_row


def completed_epochs(checkpoint: Path) -> int:
    """Number of finished epochs recorded in a checkpoint written by `fit` (reads no tensor data)."""
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        return len(state[_HISTORY_KEY])
    except Exception as exc:
        raise DatasetError(
            checkpoint,
            f"cannot resume from this checkpoint ({type(exc).__name__}: {exc}); delete it to train from scratch",
        ) from exc


def write_metrics_csv(history: list[Mapping[str, float]], target: str | Path) -> None:
    import pandas as pd

    table = pd.DataFrame(list(history), columns=list(METRIC_COLUMNS))
    with atomic_path(target) as tmp:
        table.to_csv(tmp, index=False)


def _plain(value):
    """Tuples -> lists etc., so the exported dict holds only what weights_only loading accepts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    raise TypeError(f"arch_kwargs must hold plain values, got {type(value).__name__}")


def read_exported(path: str | Path) -> dict[str, Any]:
    """The exported dict (state_dict + metadata), loaded with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "exported model not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DatasetError(path, f"not a readable exported model ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise DatasetError(path, f"not a leukoflow exported model (format {found!r}, expected {EXPORT_FORMAT!r})")
    return payload


def load_exported(path: str | Path, model: nn.Module | None = None) -> nn.Module:
    """Rebuild (or fill `model` with) an exported classifier; returned in eval mode on the CPU.

    Without `model`, the architecture recorded in the file is instantiated from its `arch_kwargs`;
    only classes inside the `leukoflow` package are imported, so a file cannot make this code
    import arbitrary modules.
    """
    payload = read_exported(path)
    if model is None:
        architecture, kwargs = payload.get("architecture", ""), payload.get("arch_kwargs")
        module_name, _, qualname = architecture.partition(":")
        if not module_name.startswith("leukoflow.") or not qualname:
            raise DatasetError(path, f"architecture {architecture!r} is not a leukoflow model; pass model= to load it")
        if kwargs is None:
            raise DatasetError(path, f"{architecture} was exported without arch_kwargs; pass model= to load it")
        cls: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        model = cls(**kwargs)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise DatasetError(path, f"weights do not fit the model: {exc}") from exc
    return model.eval()


def predict_proba(model: nn.Module, x_uint8, batch_size: int = 64, device=None) -> np.ndarray:
    """Class probabilities (N, n_classes) float32 for uint8 images (N, 3, S, S).

    Batches go to the device as uint8 and are normalised there, as in training. The model is
    moved to `device` (default: CUDA if available) and left in eval mode; bf16 autocast on GPU.
    """
    images, _ = check_images(x_uint8, name="predict")
    device = (
        torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    on_gpu = device.type == "cuda"
    model = model.to(device).eval()
    if on_gpu:
        model = model.to(memory_format=torch.channels_last)
    scale, shift = normalisation_constants(device)
    outputs = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_gpu):
        for start in range(0, max(images.shape[0], 1), batch_size):
            batch = images[start : start + batch_size]
            if on_gpu:
                batch = batch.pin_memory().to(device, non_blocking=True)
            log_probs = model(normalise_batch(batch, scale, shift, channels_last=on_gpu))
            outputs.append(log_probs.float().exp().cpu())
    return torch.cat(outputs).numpy()
