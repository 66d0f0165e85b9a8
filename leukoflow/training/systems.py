"""Lightning systems: what is trained how (loss, optimiser, schedule, per-epoch metrics).

A system wraps a plain `nn.Module` (`leukoflow.nets`) and knows nothing of the workflow:
  * `ClassifierSystem`: the model maps a normalised (N, 3, H, W) batch to log-probabilities
    (N, n_classes); negative log-likelihood, optionally class-weighted; score: accuracy.
  * `SegmenterSystem`: the model maps a normalised (N, C, H, W) batch to logits (N, 1, H, W) of
    the foreground; soft Dice, cross-entropy or both (MONAI's formulas); score: Dice of the thresholded
    masks, accumulated over the epoch (2 * sum |P & T| / (sum |P| + sum |T|)).

Per epoch a system records its train/val loss and score (sample-weighted means over the epoch)
and the learning rate in `history`, which travels inside every checkpoint, and writes one plain
log line (progress bars only on an interactive terminal).
"""

from __future__ import annotations

import logging
import math

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from leukoflow.core.images import normalisation_constants, normalise_batch
from leukoflow.runtime.progress import Progress
from leukoflow.training.config import HISTORY_KEY, TrainConfig, history_columns
from leukoflow.training.data import epoch_seed

log = logging.getLogger(__name__)


class InverseTimeDecay:
    """LambdaLR factor 1 / (1 + decay * t); a class (not a lambda) so its state checkpoints."""

    def __init__(self, decay: float):
        self.decay = float(decay)

    def __call__(self, t: int) -> float:
        return 1.0 / (1.0 + self.decay * t)


def build_optimizer(parameters, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        # Not the ALL-IDB2 paper's: Adam trains a randomly initialised network far faster than SGD,
        # which the CPU demo (no ImageNet AlexNet weights offline) needs.
        return torch.optim.Adam(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        # "RMSprop with defaults" (Liu & Long 2019, a Keras model): Keras's rho 0.9 and epsilon
        # 1e-7, where torch's defaults are 0.99 and 1e-8.
        return torch.optim.RMSprop(parameters, lr=cfg.lr, alpha=0.9, eps=1e-7, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


class System(pl.LightningModule):
    """The shared loop; subclasses give `score`, `loss_value`, `batch_stats` and `stats_row`."""

    score = "acc"

    def __init__(self, model: nn.Module, cfg: TrainConfig, normalisation: str = "imagenet", channels: int = 3):
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.normalisation = normalisation
        scale, shift = normalisation_constants("cpu", normalisation, channels)
        self.register_buffer("input_scale", scale, persistent=False)
        self.register_buffer("input_shift", shift, persistent=False)
        self.history: list[dict[str, float]] = []
        self._sums: dict[str, torch.Tensor] = {}

    # -- subclass interface ---------------------------------------------------------------
    def loss_value(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def batch_stats(self, outputs: torch.Tensor, targets: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        """A fixed-length tensor of sums, added up over the epoch on the device."""
        raise NotImplementedError

    def stats_row(self, sums: list[float]) -> tuple[float, float]:
        """(mean loss, score) of an epoch from its summed `batch_stats`."""
        raise NotImplementedError

    def prepare_targets(self, targets: torch.Tensor) -> torch.Tensor:
        return targets

    # -- the loop -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, targets = batch
        channels_last = images.device.type == "cuda"
        images = normalise_batch(images, self.input_scale, self.input_shift, channels_last)
        return images, self.prepare_targets(targets)

    def _step(self, batch, stage: str) -> torch.Tensor:
        images, targets = batch
        outputs = self.model(images).float()
        loss = self.loss_value(outputs, targets)
        with torch.no_grad():
            # Accumulated on the device: one host sync per epoch instead of one per step.
            stats = self.batch_stats(outputs, targets, loss.detach())
            self._sums[stage] = stats if stage not in self._sums else self._sums[stage] + stats
        return loss

    def on_train_start(self) -> None:
        # Batches of all epochs: an upper bound, as early stopping may end the run sooner.
        epochs = max(1, int(self.trainer.max_epochs or 1))
        per_epoch = self.trainer.num_training_batches
        per_epoch = int(per_epoch) if math.isfinite(per_epoch) else 0
        self._progress = Progress(f"training ({epochs} epochs at most)", epochs * per_epoch, log, unit="batches")

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        progress = getattr(self, "_progress", None)
        if progress is not None:
            progress.advance()

    def on_train_epoch_start(self) -> None:
        # Lightning checkpoints do not hold RNG states; reseeding from (seed, epoch) makes dropout
        # in a resumed run identical to an uninterrupted one.
        torch.manual_seed(epoch_seed(self.cfg.seed + 1, self.current_epoch))
        self._sums.pop("train", None)
        # The lr of the epoch's first step (Lightning may step an epoch scheduler before the
        # validation hooks run, so reading it there would show the next epoch's value).
        self._epoch_lr = float(self.trainer.optimizers[0].param_groups[0]["lr"])

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def on_validation_epoch_start(self) -> None:
        self._sums.pop("val", None)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        # Runs after the epoch's training batches and before ModelCheckpoint saves, so the
        # history row of this epoch is inside the checkpoint written for it.
        if self.trainer.sanity_checking:
            return
        row: dict[str, float] = {"epoch": int(self.current_epoch)}
        for stage in ("train", "val"):
            sums = self._sums.get(stage)
            loss, score = self.stats_row(sums.tolist()) if sums is not None else (math.nan, math.nan)
            row[f"{stage}_loss"], row[f"{stage}_{self.score}"] = loss, score
        row["lr"] = getattr(self, "_epoch_lr", math.nan)
        self.history.append(row)
        columns = history_columns(self.score)
        self.log_dict({key: float(row[key]) for key in columns[1:5]}, on_epoch=True, prog_bar=True)
        log.info("epoch %d: %s", row["epoch"], ", ".join(f"{k} {row[k]:.4g}" for k in columns[1:]))

    def configure_optimizers(self):
        optimizer = build_optimizer(self.model.parameters(), self.cfg)
        if self.cfg.schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode=self.cfg.monitor_mode(),
                factor=self.cfg.plateau_factor,
                patience=self.cfg.plateau_patience,
            )
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "epoch", "monitor": self.cfg.monitor},
            }
        decay = self.cfg.lr_decay if self.cfg.schedule == "inverse_time" else 0.0
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, InverseTimeDecay(decay))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.cfg.lr_decay_interval},
        }

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[HISTORY_KEY] = [dict(row) for row in self.history]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = [dict(row) for row in checkpoint.get(HISTORY_KEY, [])]


class ClassifierSystem(System):
    """NLL training of a log-probability classifier; class weights from `cfg.class_weights`."""

    score = "acc"

    def __init__(self, model: nn.Module, cfg: TrainConfig, normalisation: str = "imagenet", channels: int = 3):
        super().__init__(model, cfg, normalisation, channels)
        weights = torch.tensor(cfg.class_weights, dtype=torch.float32) if cfg.class_weights else torch.empty(0)
        self.register_buffer("class_weights", weights, persistent=False)

    def loss_value(self, outputs, targets):
        weight = self.class_weights if self.class_weights.numel() else None
        if weight is not None and weight.numel() != outputs.shape[1]:
            raise ValueError(f"{weight.numel()} class weights for a {outputs.shape[1]}-class model")
        return F.nll_loss(outputs, targets, weight=weight)

    def batch_stats(self, outputs, targets, loss):
        # The weighted NLL of an epoch is sum(w_y * nll) / sum(w_y) over all its samples; the
        # batch loss is already divided by its own sum(w_y), so `loss * n` summed over batches
        # would depend on how the batches are composed. Sum numerator and denominator instead.
        nll = -outputs.gather(1, targets.unsqueeze(1)).squeeze(1).to(loss.dtype)
        weight = self.class_weights[targets].to(loss.dtype) if self.class_weights.numel() else torch.ones_like(nll)
        correct = (outputs.argmax(dim=1) == targets).sum().to(loss.dtype)
        return torch.stack([(weight * nll).sum(), weight.sum(), correct, loss.new_tensor(targets.shape[0])])

    def stats_row(self, sums):
        weighted_nll, total_weight, correct, n = sums
        return (weighted_nll / total_weight, correct / n) if n else (math.nan, math.nan)


class SegmenterSystem(System):
    """Foreground segmentation from one logit channel; `cfg.loss` dice, cross_entropy or both."""

    score = "dice"

    def __init__(self, model: nn.Module, cfg: TrainConfig, normalisation: str = "unit", channels: int = 1):
        super().__init__(model, cfg, normalisation, channels)
        self.loss_fn = segmentation_loss(cfg.loss)

    def prepare_targets(self, targets):
        return targets.unsqueeze(1).to(torch.float32)  # (N, H, W) uint8 -> (N, 1, H, W) float

    def loss_value(self, outputs, targets):
        return self.loss_fn(outputs, targets)

    def batch_stats(self, outputs, targets, loss):
        predicted = outputs > 0  # logit 0 is probability 0.5
        truth = targets > 0.5
        intersection = (predicted & truth).sum().to(loss.dtype)
        total = (predicted.sum() + truth.sum()).to(loss.dtype)
        n = targets.shape[0]
        return torch.stack([loss * n, intersection, total, loss.new_tensor(n)])

    def stats_row(self, sums):
        loss_sum, intersection, total, n = sums
        if not n:
            return math.nan, math.nan
        return loss_sum / n, (2 * intersection / total) if total else 1.0


class SoftDiceLoss(nn.Module):
    """1 - soft Dice of sigmoid probabilities, per image and channel, averaged.

    The formula of MONAI's `DiceLoss(sigmoid=True)` with its defaults (smoothing 1e-5 in numerator
    and denominator, no squared terms, mean over batch and channels), written out because importing
    MONAI costs every training job about 2 s; `tests/training/test_systems.py` checks the two agree.
    """

    smooth = 1e-5

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probability = torch.sigmoid(logits)
        dims = tuple(range(2, logits.ndim))
        intersection = (probability * target).sum(dims)
        total = probability.sum(dims) + target.sum(dims)
        return (1.0 - (2.0 * intersection + self.smooth) / (total + self.smooth)).mean()


class DiceCrossEntropyLoss(nn.Module):
    """Soft Dice plus binary cross-entropy (MONAI's `DiceCELoss(sigmoid=True)`, weights 1 and 1)."""

    def __init__(self):
        super().__init__()
        self.dice, self.cross_entropy = SoftDiceLoss(), nn.BCEWithLogitsLoss()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.dice(logits, target) + self.cross_entropy(logits, target)


def segmentation_loss(name: str) -> nn.Module:
    """Soft Dice (on sigmoid probabilities), binary cross-entropy, or their sum."""
    losses = {"dice": SoftDiceLoss, "cross_entropy": nn.BCEWithLogitsLoss, "dice_cross_entropy": DiceCrossEntropyLoss}
    if name not in losses:
        raise ValueError(f"segmenter loss must be one of {sorted(losses)}, got {name!r}")
    return losses[name]()


SYSTEMS = {"classifier": ClassifierSystem, "segmenter": SegmenterSystem}
