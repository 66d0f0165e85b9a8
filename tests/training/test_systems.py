"""The systems on one fit: class weights, RMSprop, reduce-on-plateau, early stopping (and its
resume), the segmenter with Dice or cross-entropy, and one plain log line per epoch."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from leukoflow.core.errors import ConfigError
from leukoflow.inference import input_normalisation, load_exported, predict_foreground, read_exported
from leukoflow.training.config import TrainConfig, training_finished
from leukoflow.training.fit import fit
from leukoflow.training.systems import ClassifierSystem, SegmenterSystem, segmentation_loss
from tests.training.test_fit import cpu_cfg, tiny_model, toy_set


@pytest.fixture(scope="module")
def data():
    return (*toy_set(64, seed=0), *toy_set(32, seed=1))


def test_class_weights_reach_the_loss():
    outputs = torch.log_softmax(torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]]), dim=1)
    targets = torch.tensor([0, 1, 1])
    plain = ClassifierSystem(nn.Identity(), cpu_cfg()).loss_value(outputs, targets)
    weighted = ClassifierSystem(nn.Identity(), cpu_cfg(class_weights=(1.0, 2.5))).loss_value(outputs, targets)
    losses = -outputs[torch.arange(3), targets]
    assert float(plain) == pytest.approx(float(losses.mean()))
    # Weighted NLL: sum(w_y * loss) / sum(w_y), as torch defines it.
    expected = (losses * torch.tensor([1.0, 2.5, 2.5])).sum() / 6.0
    assert float(weighted) == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="3 class weights for a 2-class model"):
        ClassifierSystem(nn.Identity(), cpu_cfg(class_weights=(1, 1, 1))).loss_value(outputs, targets)


@pytest.mark.parametrize("class_weights", [(), (1.0, 4.0)])
def test_epoch_loss_is_the_nll_of_the_whole_set_for_any_batching(class_weights):
    # Unbalanced targets: with weights, a mean of batch means (each divided by its own sum of
    # weights) differs from the weighted NLL of the set, and differs between batchings.
    generator = torch.Generator().manual_seed(3)
    outputs = torch.log_softmax(torch.randn(37, 2, generator=generator) * 2, dim=1)
    targets = (torch.rand(37, generator=generator) < 0.25).long()
    weight = torch.tensor(class_weights) if class_weights else None
    expected = float(F.nll_loss(outputs, targets, weight=weight))
    for batch_size in (5, 16):
        system = ClassifierSystem(nn.Identity(), cpu_cfg(class_weights=class_weights))
        for start in range(0, 37, batch_size):
            batch = outputs[start : start + batch_size], targets[start : start + batch_size]
            system._step(batch, "val")
        loss, accuracy = system.stats_row(system._sums["val"].tolist())
        assert loss == pytest.approx(expected, rel=1e-5), batch_size
        assert accuracy == pytest.approx(float((outputs.argmax(1) == targets).float().mean()))


def test_rmsprop_uses_keras_defaults():
    optimizer = ClassifierSystem(tiny_model(), cpu_cfg(optimizer="rmsprop", lr=0.001)).configure_optimizers()
    group = optimizer["optimizer"].param_groups[0]
    assert isinstance(optimizer["optimizer"], torch.optim.RMSprop)
    assert (group["lr"], group["alpha"], group["eps"]) == (0.001, 0.9, 1e-7)


class Stuck(nn.Module):
    """A classifier whose output cannot move: its validation loss never improves."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.log_softmax(torch.zeros(len(x), 2) + 0 * self.weight, dim=1)


def test_plateau_schedule_cuts_the_rate_after_patience(tmp_path, data):
    cfg = cpu_cfg(epochs=6, lr=0.01, schedule="plateau", plateau_patience=1, plateau_factor=0.1)
    fit(Stuck(), *data, cfg, tmp_path / "s", tmp_path / "b.pt", tmp_path / "h.csv")
    lrs = pd.read_csv(tmp_path / "h.csv")["lr"].to_numpy()
    # Epoch 0 sets the best; epochs 1 and 2 do not improve (patience 1), so epoch 3 runs at 0.001.
    np.testing.assert_allclose(lrs[:4], [0.01, 0.01, 0.01, 0.001])


def test_early_stopping_stops_and_a_rerun_does_not_train_on(tmp_path, data):
    cfg = cpu_cfg(epochs=30, early_stopping_patience=2)
    summary = fit(Stuck(), *data, cfg, tmp_path / "s", tmp_path / "b.pt", tmp_path / "h.csv")
    assert summary["stopped_early"] and summary["epochs_completed"] < 30
    history = pd.read_csv(tmp_path / "h.csv").to_dict("records")
    assert training_finished(history, cfg)
    (tmp_path / "b.pt").unlink()  # killed before the export: the rerun exports without training
    assert summary["epochs_completed"] == 3  # epoch 0, then two without improvement
    again = fit(Stuck(), *data, cfg, tmp_path / "s", tmp_path / "b.pt", tmp_path / "h2.csv")
    assert again["epochs_completed"] == summary["epochs_completed"] and again["resumed_from_epoch"] == len(history)
    assert (tmp_path / "b.pt").is_file()


def test_training_finished_reads_the_monitor():
    rows = [{"val_loss": v, "val_acc": a} for v, a in ((1.0, 0.5), (0.5, 0.7), (0.6, 0.7), (0.7, 0.6))]
    assert not training_finished(rows, TrainConfig(epochs=10, early_stopping_patience=3))
    assert training_finished(rows, TrainConfig(epochs=10, early_stopping_patience=2))
    assert training_finished(rows, TrainConfig(epochs=4))
    # Ties do not count as improvement (Lightning's EarlyStopping): best val_acc first seen at 1.
    assert training_finished(rows, TrainConfig(epochs=10, early_stopping_patience=2, monitor="val_acc"))


def disks(n, size=32, seed=0):
    """Grey images with one bright disk each, and its mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = rng.integers(0, 60, (n, 1, size, size)).astype(np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx, r = rng.integers(8, size - 8, 2).tolist() + [int(rng.integers(4, 7))]
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        masks[i] = disk
        images[i, 0][disk] += 150
    return torch.from_numpy(images), torch.from_numpy(masks)


def tiny_segmenter(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))


def test_segmenter_learns_disks_with_dice(tmp_path):
    loss = "dice"
    train, val = disks(32, seed=0), disks(8, seed=1)
    cfg = cpu_cfg(epochs=8, lr=0.01, optimizer="adam", loss=loss, batch_size=8, monitor="val_dice")
    summary = fit(
        tiny_segmenter(), *train, *val, cfg, tmp_path / "s", tmp_path / "u.pt", tmp_path / "h.csv", task="segmenter"
    )
    history = pd.read_csv(tmp_path / "h.csv")
    assert list(history.columns) == ["epoch", "train_loss", "train_dice", "val_loss", "val_dice", "lr"]
    assert summary["best_val_dice"] > 0.8
    payload = read_exported(tmp_path / "u.pt")
    assert payload["task"] == "segmenter" and input_normalisation(payload) == "unit"
    probabilities = predict_foreground(load_exported(tmp_path / "u.pt", tiny_segmenter(5)), val[0])
    predicted = probabilities > 0.5
    dice = 2 * (predicted & val[1].numpy().astype(bool)).sum() / (predicted.sum() + val[1].numpy().sum())
    assert dice > 0.8


@pytest.mark.parametrize("loss", ["cross_entropy", "dice_cross_entropy"])
def test_cross_entropy_trains_the_same_network(tmp_path, loss):
    # On these small disks (about 10% foreground) cross-entropy stays at all-background for the
    # first epochs, as the UKM-WBC paper found: here it must only train and lower its loss.
    train, val = disks(32, seed=0), disks(8, seed=1)
    cfg = cpu_cfg(epochs=4, lr=0.01, optimizer="adam", loss=loss, batch_size=8)
    fit(tiny_segmenter(), *train, *val, cfg, tmp_path / "s", tmp_path / "u.pt", tmp_path / "h.csv", task="segmenter")
    history = pd.read_csv(tmp_path / "h.csv")
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]


def test_our_losses_equal_monais():
    monai_losses = pytest.importorskip("monai.losses")
    torch.manual_seed(0)
    logits, target = torch.randn(3, 1, 9, 11), (torch.rand(3, 1, 9, 11) > 0.7).float()
    ours, theirs = segmentation_loss("dice"), monai_losses.DiceLoss(sigmoid=True)
    assert float(ours(logits, target)) == pytest.approx(float(theirs(logits, target)), abs=1e-6)
    ours, theirs = segmentation_loss("dice_cross_entropy"), monai_losses.DiceCELoss(sigmoid=True)
    assert float(ours(logits, target)) == pytest.approx(float(theirs(logits, target)), abs=1e-6)


def test_segmentation_losses_on_known_masks():
    target = torch.zeros(1, 1, 4, 4)
    target[..., :2, :] = 1
    confident_right = torch.where(target > 0, 20.0, -20.0)
    confident_wrong = -confident_right
    dice = segmentation_loss("dice")
    assert float(dice(confident_right, target)) == pytest.approx(0.0, abs=1e-4)
    assert float(dice(confident_wrong, target)) == pytest.approx(1.0, abs=1e-4)
    assert float(segmentation_loss("cross_entropy")(confident_wrong, target)) == pytest.approx(20.0, rel=1e-3)
    assert float(segmentation_loss("dice_cross_entropy")(confident_right, target)) == pytest.approx(0.0, abs=1e-4)


def test_task_and_loss_must_agree(tmp_path, data):
    train, val = disks(4), disks(2)
    with pytest.raises(ConfigError, match="does not apply to a segmenter"):
        fit(
            tiny_segmenter(),
            *train,
            *val,
            cpu_cfg(loss="nll"),
            tmp_path / "s",
            tmp_path / "u",
            tmp_path / "h",
            task="segmenter",
        )
    with pytest.raises(ConfigError, match="records val_loss and val_acc"):
        fit(tiny_model(), *data, cpu_cfg(monitor="val_dice"), tmp_path / "s", tmp_path / "b", tmp_path / "h")
    with pytest.raises(ConfigError, match="training task"):
        fit(tiny_model(), *data, cpu_cfg(), tmp_path / "s", tmp_path / "b", tmp_path / "h", task="detector")


def test_one_plain_log_line_per_epoch(tmp_path, data, caplog):
    with caplog.at_level(logging.INFO, logger="leukoflow.training.systems"):
        fit(tiny_model(), *data, cpu_cfg(epochs=2, progress_bar=True), tmp_path / "s", tmp_path / "b", tmp_path / "h")
    lines = [r.getMessage() for r in caplog.records if r.name == "leukoflow.training.systems"]
    assert [line.split(":")[0] for line in lines] == ["epoch 0", "epoch 1"]
    assert all("val_loss" in line and "\r" not in line for line in lines)


def test_segmenter_system_prepares_masks_as_float_channels():
    system = SegmenterSystem(tiny_segmenter(), cpu_cfg(loss="dice"))
    masks = torch.ones(2, 5, 5, dtype=torch.uint8)
    assert system.prepare_targets(masks).shape == (2, 1, 5, 5)


def test_state_of_another_run_is_never_resumed(tmp_path, data, caplog):
    cfg = cpu_cfg(epochs=2)
    first = fit(tiny_model(), *data, cfg, tmp_path / "s", tmp_path / "b.pt", tmp_path / "h.csv")
    # Same data and settings, more epochs: the run resumes (the documented way to extend it).
    longer = fit(tiny_model(), *data, cpu_cfg(epochs=3), tmp_path / "s", tmp_path / "b.pt", tmp_path / "h.csv")
    assert longer["resumed_from_epoch"] == first["epochs_completed"] == 2
    # Other data (a changed input file): the old state must not be resumed nor re-exported.
    other = (data[0].flip(-1), data[1], data[2], data[3])
    with caplog.at_level(logging.WARNING, logger="leukoflow.training.fit"):
        again = fit(tiny_model(), *other, cpu_cfg(epochs=3), tmp_path / "s", tmp_path / "b.pt", tmp_path / "h.csv")
    assert again["resumed_from_epoch"] == 0 and again["epochs_completed"] == 3
    assert "changed: ['data']" in caplog.text
    # Other starting weights (a pretrained file or an earlier stage's model changed): from scratch.
    changed = fit(tiny_model(seed=1), *other, cpu_cfg(epochs=4), tmp_path / "s", tmp_path / "b.pt", tmp_path / "h.csv")
    assert changed["resumed_from_epoch"] == 0
    # Another setting (the learning rate): trained from scratch too.
    lr = fit(tiny_model(), *other, cpu_cfg(epochs=3, lr=0.01), tmp_path / "s", tmp_path / "b.pt", tmp_path / "h.csv")
    assert lr["resumed_from_epoch"] == 0
