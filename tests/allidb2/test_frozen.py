"""Training above frozen trunk stages: the frozen part keeps its weights, the trained part moves,
and the exported whole network gives the probabilities computed from the stored maps."""

import numpy as np
import pandas as pd
import pytest
import torch

from leukoflow.allidb2.frozen import fit_above_frozen_stages
from leukoflow.inference import load_exported, predict_proba, read_exported
from leukoflow.nets.ghosh import GhoshNet
from leukoflow.training.config import TrainConfig


@pytest.mark.parametrize("backbone, frozen", [("efficientnet_lite0", 17), ("alexnet", 8)])
def test_frozen_training_exports_a_whole_network_that_agrees(tmp_path, backbone, frozen):
    torch.manual_seed(0)
    model = GhoshNet(input_size=65, hidden=[8], backbone=backbone)
    generator = torch.Generator().manual_seed(1)
    data = {
        name: (torch.randint(0, 256, (n, 3, 65, 65), dtype=torch.uint8, generator=generator), torch.arange(n) % 2)
        for name, n in (("train", 24), ("val", 8), ("test", 8))
    }
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=2, lr=1e-2, optimizer="adam", batch_size=8, seed=0, accelerator="cpu")
    summary, probabilities = fit_above_frozen_stages(
        model, frozen, data, cfg, str(tmp_path / "state"), tmp_path / "model.pt", tmp_path / "history.csv"
    )
    assert summary["epochs_completed"] == 2 and probabilities.shape == (8, 2)
    # The one training loop ran it: resumable state and a fingerprint sit in the state folder.
    assert (tmp_path / "state" / "last.ckpt").is_file() and (tmp_path / "state" / "fingerprint.json").is_file()
    after = model.state_dict()
    names = {id(p): name for name, p in model.named_parameters()}
    frozen_names = {names[id(p)] for stage in model.trunk_stages()[:frozen] for p in stage.parameters()}
    assert frozen_names and all(torch.equal(before[name], after[name]) for name in frozen_names)
    assert not torch.equal(before["classifier.1.weight"], after["classifier.1.weight"])  # the new head trained
    payload = read_exported(tmp_path / "model.pt")
    assert payload["input"]["normalisation"] == model.normalisation and payload["arch_kwargs"]["backbone"] == backbone
    exported = load_exported(tmp_path / "model.pt")
    again = predict_proba(exported, data["test"][0], normalisation=model.normalisation)
    np.testing.assert_allclose(again, probabilities, atol=1e-5)
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history.columns) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]
