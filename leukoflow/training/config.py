"""Training settings shared by every system (classifier, segmenter), and the history format.

The ALL-IDB2 paper's "learning decay rate 0.001" (Ghosh, Singh & Sheet 2017) has two readings:
  * `schedule="inverse_time"` with `lr_decay` 0.001 (DEFAULT): lr_e = lr / (1 + lr_decay * e),
    e the epoch index (`lr_decay_interval="epoch"`) or the optimiser step ("step"). The phrase
    qualifies the learning rate, and a "learning rate decay" of this size is the inverse-time
    `learningRateDecay` option of Torch7's `optim.sgd` (applied per step there; per epoch here,
    as the project brief specifies: 25 epochs take 0.02 to 0.0195, per step about 3,700 steps
    would take it to 0.0043).
  * `weight_decay` 0.001 with `lr_decay` 0: an L2 penalty.
The C-NMC paper (Liu & Long 2019) instead reduces the rate x0.1 after 6 epochs without validation
improvement and stops after 12: `schedule="plateau"`, `plateau_patience=6`,
`early_stopping_patience=12`, with RMSprop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leukoflow.core.device import ACCELERATORS
from leukoflow.core.errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "rmsprop")
SCHEDULES = ("inverse_time", "plateau", "none")
LOSSES = {
    "classifier": ("nll",),
    "segmenter": ("dice", "cross_entropy", "dice_cross_entropy"),
}
HISTORY_KEY = "leukoflow_history"
"""Checkpoint entry holding the per-epoch history, so a resumed run keeps its whole record."""


def history_columns(score: str) -> tuple[str, ...]:
    """Columns of history.csv for a system whose per-epoch score is `score` ("acc" or "dice")."""
    return ("epoch", "train_loss", f"train_{score}", "val_loss", f"val_{score}", "lr")


@dataclass
class TrainConfig:
    """Settings of one training run. Defaults are the ALL-IDB2 paper's where it gives them
    (25 epochs, SGD, lr 0.02, decay 0.001 read as learning-rate decay: see the module docstring);
    momentum 0.9 and batch 64 are our choices (the paper is silent).

    monitor: the validation metric that picks the exported "best" epoch, drives the plateau
    schedule and early stopping: "val_loss" (default: on small validation sets accuracy moves in
    coarse steps and ties often, while the loss still ranks epochs) or the system's score
    ("val_acc" for classifiers, "val_dice" for segmenters).
    class_weights: per-class weights of the classifier's loss (C-NMC: ALL 2.5, HEM 1.0), indexed
    by label; None weighs every class 1.
    precision: None -> "bf16-mixed" on GPU, "32-true" on CPU.
    deterministic: Lightning's deterministic mode in "warn" form.
    """

    epochs: int = 25
    lr: float = 0.02
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "inverse_time"
    lr_decay: float = 0.001
    lr_decay_interval: str = "epoch"
    plateau_factor: float = 0.1
    plateau_patience: int = 6
    early_stopping_patience: int | None = None
    loss: str = "nll"
    class_weights: tuple[float, ...] | None = None
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
        if self.class_weights is not None:
            self.class_weights = tuple(float(w) for w in self.class_weights)
        checks = {
            "epochs": self.epochs >= 1,
            "lr": self.lr > 0,
            "optimizer": self.optimizer in OPTIMIZERS,
            "momentum": 0 <= self.momentum < 1,
            "weight_decay": self.weight_decay >= 0,
            "schedule": self.schedule in SCHEDULES,
            "lr_decay": self.lr_decay >= 0,
            "lr_decay_interval": self.lr_decay_interval in ("epoch", "step"),
            "plateau_factor": 0 < self.plateau_factor < 1,
            "plateau_patience": self.plateau_patience >= 0,
            "early_stopping_patience": self.early_stopping_patience is None or self.early_stopping_patience >= 1,
            "loss": any(self.loss in losses for losses in LOSSES.values()),
            "class_weights": self.class_weights is None or all(w > 0 for w in self.class_weights),
            "batch_size": self.batch_size >= 1,
            "accelerator": self.accelerator in ACCELERATORS,
            "num_threads": self.num_threads is None or self.num_threads >= 1,
            "monitor": self.monitor in ("val_loss", "val_acc", "val_dice"),
        }
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"training.{key}: invalid value {getattr(self, key)!r}")

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any]) -> TrainConfig:
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"training: unknown keys {unknown}; known keys are {sorted(known)}")
        return cls(**settings)

    def monitor_mode(self) -> str:
        return "min" if self.monitor == "val_loss" else "max"


def runtime_settings(compute: Mapping[str, Any], threads: int | None, progress_bar: bool = True) -> dict[str, Any]:
    """The `TrainConfig` fields that come from the config's `compute` section and the job (device
    policy, CPU threads, progress lines), the same for every dataset's training."""
    return {
        "accelerator": compute["accelerator"],
        "allow_cpu_fallback": compute["allow_cpu_fallback"],
        "num_threads": threads,
        "progress_bar": progress_bar,
    }


def training_finished(history: list[Mapping[str, float]], cfg: TrainConfig) -> bool:
    """True when a history already reached `cfg.epochs` or met the early-stopping rule.

    Lets a job killed after training stopped early, but before it exported, finish without
    training further epochs (Lightning does not keep "stopped" in its checkpoints).
    """
    if len(history) >= cfg.epochs:
        return True
    patience = cfg.early_stopping_patience
    if not patience or not history:
        return False
    values = [float(row[cfg.monitor]) for row in history]
    best = values.index(min(values) if cfg.monitor_mode() == "min" else max(values))
    return len(values) - 1 - best >= patience
