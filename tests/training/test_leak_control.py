"""A negative control for leaks: train on labels shuffled by source and score held-out bags.

Each source image has eight noisy copies (as augmentation makes them). With true labels a small
network learns the planted class signal and scores well on bags it never saw. With labels
shuffled across sources there is nothing to learn, so on the leak-free bags (every copy of a
source in one bag) it must score at chance; on the paper's leaky bags (copies dealt at random)
it can memorise the copies of the test sources and scores above chance: the control notices a
leak that the true-label score cannot show."""

import numpy as np
import pytest
import torch
from torch import nn

from leukoflow.core.splits import BAG_FOLDS, assign_bags
from leukoflow.inference import load_exported, predict_proba
from leukoflow.training.config import TrainConfig
from leukoflow.training.fit import fit

pytestmark = pytest.mark.slow
SOURCES, COPIES, SIZE = 60, 8, 12


def dataset(seed=0):
    """uint8 images (SOURCES * COPIES, 3, SIZE, SIZE), labels, source ids. Class 1 has a brighter
    blue channel (weakly: noise overlaps it); each source has its own texture."""
    rng = np.random.default_rng(seed)
    labels = np.arange(SOURCES) % 2
    base = rng.integers(90, 170, (SOURCES, 3, SIZE, SIZE)).astype(np.float32)
    base[:, 2] += 30 * labels[:, None, None]
    copies = base[:, None] + rng.normal(0, 6, (SOURCES, COPIES, 3, SIZE, SIZE))
    images = np.clip(copies, 0, 255).astype(np.uint8).reshape(-1, 3, SIZE, SIZE)
    return torch.from_numpy(images), np.repeat(labels, COPIES), np.repeat(np.arange(SOURCES), COPIES)


def memoriser():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 64), nn.ReLU(), nn.Linear(64, 2), nn.LogSoftmax(1))


def held_out_accuracy(tmp_path, name, images, labels, groups, protocol, score_labels):
    bags = assign_bags(groups, labels, 5, protocol, seed=0)
    train_bags, val_bag, test_bag = BAG_FOLDS[0]
    train, val, test = np.isin(bags, train_bags), bags == val_bag, bags == test_bag
    y = torch.from_numpy(labels)
    cfg = TrainConfig(epochs=30, lr=0.003, optimizer="adam", batch_size=64, seed=0, accelerator="cpu")
    out = tmp_path / name
    fit(memoriser(), images[train], y[train], images[val], y[val], cfg, out / "s", out / "m.pt", out / "h.csv")
    probabilities = predict_proba(load_exported(out / "m.pt", memoriser()), images[test], normalisation="imagenet")
    return float((probabilities.argmax(1) == score_labels[test]).mean()), int(test.sum())


def test_shuffled_labels_score_chance_leak_free_and_above_chance_when_copies_leak(tmp_path):
    images, labels, groups = dataset()
    accuracy, n = held_out_accuracy(tmp_path, "true", images, labels, groups, "leak_free", labels)
    assert accuracy >= 0.7, accuracy  # the planted signal is learnt
    rng = np.random.default_rng(1)
    shuffled = rng.permutation(np.arange(SOURCES) % 2)[groups]  # one random label per source
    chance, n = held_out_accuracy(tmp_path, "shuffled", images, shuffled, groups, "leak_free", shuffled)
    # 96 test images but only 12 sources: chance has the spread of 12 coin flips.
    assert 0.2 <= chance <= 0.8, chance
    leaked, _ = held_out_accuracy(tmp_path, "leaky", images, shuffled, groups, "paper", shuffled)
    assert leaked >= 0.85 and leaked > chance + 0.15, (leaked, chance)
