"""The networks: log-probabilities, the combined model's layout, trunks from stage 1, backbones by name."""

import pytest
import torch
from torch import nn

from leukoflow.cnmc.models import BackboneClassifier, CombinedClassifier, set_batchnorm_momentum
from leukoflow.core.errors import ConfigError


@pytest.fixture(scope="module")
def stage1():
    torch.manual_seed(0)
    return BackboneClassifier("efficientnet_lite0"), BackboneClassifier("efficientnet_lite0")


def test_backbone_classifier_returns_log_probabilities(stage1):
    model = stage1[0].eval()
    out = model(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 2)
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(3), atol=1e-5)
    assert model.normalisation == "signed"
    assert model.arch_kwargs == {"backbone": "efficientnet_lite0", "n_classes": 2}


def test_combined_model_layout_and_trunks_from_stage1(stage1):
    model_a, model_b = stage1
    combined = CombinedClassifier("efficientnet_lite0", hidden=1024, dropout=0.6)
    linear = [m for m in combined.head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(2560, 1024), (1024, 1024), (1024, 2)]
    assert [m.p for m in combined.head if isinstance(m, nn.Dropout)] == [0.6, 0.6]
    assert isinstance(combined.norm_a, nn.BatchNorm1d) and combined.norm_a.num_features == 1280
    combined.load_trunks(model_a.state_dict(), model_b.state_dict())
    for trunk, source in ((combined.trunk_a, model_a.trunk), (combined.trunk_b, model_b.trunk)):
        for (name, value), (_, expected) in zip(trunk.state_dict().items(), source.state_dict().items()):
            assert torch.equal(value, expected), name
    out = combined.eval()(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 2) and torch.allclose(out.exp().sum(dim=1), torch.ones(2), atol=1e-5)
    # an exported file rebuilds it from arch_kwargs
    rebuilt = CombinedClassifier(**combined.arch_kwargs)
    rebuilt.load_state_dict(combined.state_dict())


def test_frozen_trunks_get_no_gradient_and_keep_their_statistics():
    combined = CombinedClassifier("efficientnet_lite0", hidden=8, freeze_trunks=True).train()
    assert not combined.trunk_a.training and combined.head.training
    before = combined.trunk_a.net._bn0.running_mean.clone()
    combined(torch.randn(4, 3, 32, 32)).sum().backward()
    assert all(p.grad is None for p in combined.trunk_a.parameters())
    assert combined.head[0].weight.grad is not None
    assert torch.equal(before, combined.trunk_a.net._bn0.running_mean)


def test_batchnorm_momentum_is_set_everywhere(stage1):
    count = set_batchnorm_momentum(stage1[0], 0.1)
    assert count > 40
    assert {m.momentum for m in stage1[0].modules() if isinstance(m, nn.BatchNorm2d)} == {0.1}


def test_the_papers_backbone_fails_clearly_without_timm():
    try:
        import timm  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("timm imports here: the optional backbone is available")
    with pytest.raises(ConfigError, match="timm:inception_resnet_v2: timm is not importable"):
        BackboneClassifier("timm:inception_resnet_v2", pretrained="none")


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ConfigError, match="efficientnet_lite0"):
        BackboneClassifier("resnet9000")
