"""Stage settings: the paper's optimiser and schedule, and the class weights reach the loss."""

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from leukoflow.cnmc.augment import AugmentSettings, augment
from leukoflow.cnmc.train import class_weight_tuple, subset_tensors, train_config
from leukoflow.core.errors import ConfigError
from leukoflow.training.systems import ClassifierSystem, build_optimizer

PAPER = dict(
    epochs=50, lr=0.001, batch_size=32, plateau_factor=0.1, plateau_patience=6, early_stopping_patience=12, seed=0
)
COMPUTE = dict(accelerator="cpu", allow_cpu_fallback=True)


def test_the_papers_optimiser_and_schedule():
    cfg = train_config(PAPER, COMPUTE, threads=1)
    assert (cfg.optimizer, cfg.schedule, cfg.plateau_factor, cfg.plateau_patience) == ("rmsprop", "plateau", 0.1, 6)
    assert cfg.early_stopping_patience == 12 and cfg.epochs == 50 and cfg.monitor == "val_loss"
    optimizer = build_optimizer(nn.Linear(2, 2).parameters(), cfg)
    assert isinstance(optimizer, torch.optim.RMSprop) and optimizer.defaults["lr"] == 0.001


def test_class_weights_reach_the_loss():
    weights = class_weight_tuple({"ALL": 2.5, "HEM": 1.0})
    assert weights == (1.0, 2.5)  # label order: HEM = 0, ALL = 1
    system = ClassifierSystem(nn.Identity(), train_config(PAPER, COMPUTE, 1, class_weights=weights))
    log_probs = torch.log(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
    targets = torch.tensor([1, 1, 0])  # ALL, ALL, HEM
    expected = (2.5 * -log_probs[0, 1] + 2.5 * -log_probs[1, 1] + 1.0 * -log_probs[2, 0]) / (2.5 + 2.5 + 1.0)
    assert torch.isclose(system.loss_value(log_probs, targets), expected)
    assert not torch.isclose(expected, F.nll_loss(log_probs, targets))
    with pytest.raises(ConfigError, match="unknown classes"):
        class_weight_tuple({"blast": 2.0})


def test_a_subset_is_its_originals_then_augmented_copies():
    images = torch.zeros((4, 3, 16, 16), dtype=torch.uint8)
    images[:, :, 4:12, 4:12] = torch.arange(1, 5, dtype=torch.uint8).view(4, 1, 1, 1) * 40
    table = pd.DataFrame({"label": [1, 1, 0, 0], "set_a": ["original", "augmented", "both", ""]})
    x, y = subset_tensors(images, table, "set_a", AugmentSettings(), seed=0, device="cpu")
    assert y.tolist() == [1, 0, 1, 0]  # originals (rows 0, 2), then copies (row 1, then row 2)
    assert torch.equal(x[0], images[0]) and torch.equal(x[1], images[2])
    assert not torch.equal(x[2], images[1]) and not torch.equal(x[3], images[2])


def test_sets_a_and_b_share_the_same_hem_copies():
    # The paper's "the same HEM": the HEM originals and their augmented copies are identical in
    # sets A and B, while the augmented ALL halves differ.
    generator = torch.Generator().manual_seed(0)
    images = torch.zeros((6, 3, 16, 16), dtype=torch.uint8)
    images[:, :, 3:13, 3:13] = torch.randint(30, 250, (6, 3, 10, 10), generator=generator, dtype=torch.uint8)
    table = pd.DataFrame(
        {
            "label": [1, 1, 1, 1, 0, 0],
            "set_a": ["original", "original", "augmented", "augmented", "both", "both"],
            "set_b": ["augmented", "augmented", "original", "original", "both", "both"],
        }
    )
    settings = AugmentSettings(p=1.0)
    xa, ya = subset_tensors(images, table, "set_a", settings, seed=0, device="cpu", shared_seed=2)
    xb, yb = subset_tensors(images, table, "set_b", settings, seed=1, device="cpu", shared_seed=2)
    hem_a, hem_b = xa[ya == 0], xb[yb == 0]
    assert len(hem_a) == len(hem_b) == 4  # two originals, two copies
    assert torch.equal(hem_a, hem_b)
    assert not torch.equal(hem_a[2:], images[4:])  # the copies are augmented
    # The ALL copies of the other half come from each model's own seed.
    assert not torch.equal(xa[ya == 1][2:], augment(images[0:2], settings, 0, "cpu"))
    assert torch.equal(xa[ya == 1][2:], augment(images[2:4], settings, 0, "cpu"))


@pytest.mark.slow
def test_class_weights_move_the_recall_of_all_the_expected_way(tmp_path):
    # The combined model's class weights with the paper's optimiser and schedule: on classes that
    # overlap (no weight can separate them), weighting ALL up raises the recall of ALL and weighting
    # it down lowers it. A loss that ignored the weights, or applied them to the wrong class, fails.
    from leukoflow.inference import load_exported, predict_proba
    from leukoflow.training.fit import fit

    generator = torch.Generator().manual_seed(0)
    n = 400
    labels = (torch.rand(n, generator=generator) < 0.5).long()  # 1 = ALL
    images = torch.randint(60, 160, (n, 3, 8, 8), dtype=torch.uint8, generator=generator)
    images[:, 2] = (images[:, 2].float() + 3 * labels[:, None, None]).clamp(0, 255).to(torch.uint8)
    settings = {**PAPER, "epochs": 8, "lr": 0.003}
    recall = {}
    for name, weights in (("ALL up", {"ALL": 4.0, "HEM": 1.0}), ("ALL down", {"ALL": 1.0, "HEM": 4.0})):
        cfg = train_config(settings, COMPUTE, 1, class_weights=class_weight_tuple(weights))

        def network():
            torch.manual_seed(0)
            return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2), nn.LogSoftmax(1))

        out = tmp_path / name.replace(" ", "_")
        fit(
            network(),
            images[:300],
            labels[:300],
            images[300:],
            labels[300:],
            cfg,
            out / "s",
            out / "m.pt",
            out / "h.csv",
        )
        predicted = predict_proba(load_exported(out / "m.pt", network()), images[300:], normalisation="imagenet")
        is_all = labels[300:].numpy() == 1
        recall[name] = float((predicted.argmax(1)[is_all] == 1).mean())
    assert recall["ALL up"] > recall["ALL down"] + 0.2, recall
