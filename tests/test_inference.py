"""Loading exported networks without Lightning, including files written by leukoflow 0.1."""

import pytest
import torch

from leukoflow.core.errors import DatasetError
from leukoflow.inference import EXPORT_FORMAT, input_normalisation, load_exported, predict_proba
from leukoflow.nets.cnn50 import CNN50
from leukoflow.nets.ghosh import GhoshNet


def export(path, architecture, kwargs, state):
    torch.save(
        {"format": EXPORT_FORMAT, "architecture": architecture, "arch_kwargs": kwargs, "state_dict": state}, path
    )
    return path


def test_models_exported_by_0_1_load_under_their_new_names(tmp_path):
    torch.manual_seed(0)
    net = GhoshNet(input_size=65, hidden=[8])
    old = export(tmp_path / "old.pt", "leukoflow.models:LeukemiaNet", net.arch_kwargs, net.state_dict())
    loaded = load_exported(old)
    assert isinstance(loaded, GhoshNet) and not loaded.training
    x = torch.randint(0, 256, (2, 3, 65, 65), dtype=torch.uint8)
    assert torch.allclose(torch.from_numpy(predict_proba(loaded, x)), torch.from_numpy(predict_proba(net, x)))
    assert input_normalisation(old) == "imagenet"  # 0.1 files did not record it: they were all ImageNet
    cnn = CNN50()
    assert isinstance(
        load_exported(export(tmp_path / "c.pt", "leukoflow.cnn50:CNN50", cnn.arch_kwargs, cnn.state_dict())), CNN50
    )


def test_unknown_architectures_say_what_to_do(tmp_path):
    gone = export(tmp_path / "gone.pt", "leukoflow.nets.retired:Net", {}, {})
    with pytest.raises(DatasetError, match="unknown to this leukoflow version.*retrain the model"):
        load_exported(gone)
    foreign = export(tmp_path / "foreign.pt", "os:system", {}, {})
    with pytest.raises(DatasetError, match="not a leukoflow network"):
        load_exported(foreign)
    with pytest.raises(DatasetError, match="exported model not found"):
        load_exported(tmp_path / "missing.pt")
