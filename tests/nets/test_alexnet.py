"""The AlexNet-based network: torchvision-compatible feature layout, head sizing, log-probs."""

import pytest
import torch

from leukoflow.nets.alexnet import (
    FeatureLoadReport,
    alexnet_features,
    feature_map_size,
    load_features_state,
)
from leukoflow.nets.ghosh import GhoshNet

# torchvision's alexnet().features parameters, from the published architecture
# (Krizhevsky 2014 "one weird trick" variant used by torchvision: 64-192-384-256-256 channels).
TORCHVISION_FEATURE_SHAPES = {
    "0.weight": (64, 3, 11, 11),
    "0.bias": (64,),
    "3.weight": (192, 64, 5, 5),
    "3.bias": (192,),
    "6.weight": (384, 192, 3, 3),
    "6.bias": (384,),
    "8.weight": (256, 384, 3, 3),
    "8.bias": (256,),
    "10.weight": (256, 256, 3, 3),
    "10.bias": (256,),
}
# torchvision's classifier for 1000 ImageNet classes (keys a full alexnet state dict also holds).
TORCHVISION_CLASSIFIER_SHAPES = {
    "classifier.1.weight": (4096, 9216),
    "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096),
    "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096),
    "classifier.6.bias": (1000,),
}


def test_feature_parameter_names_and_shapes_match_torchvision():
    shapes = {name: tuple(p.shape) for name, p in alexnet_features().named_parameters()}
    assert shapes == TORCHVISION_FEATURE_SHAPES


def test_feature_layer_hyperparameters():
    features = alexnet_features()
    conv0, conv3 = features[0], features[3]
    assert (conv0.stride, conv0.padding) == ((4, 4), (2, 2))
    assert conv3.padding == (2, 2)
    for index in (2, 5, 12):
        assert isinstance(features[index], torch.nn.MaxPool2d)
        assert (features[index].kernel_size, features[index].stride) == (3, 2)
    assert len(features) == 13


@pytest.mark.parametrize("size, side", [(257, 7), (129, 3), (224, 6), (65, 1)])
def test_feature_map_size_matches_a_real_forward(size, side):
    features = alexnet_features()
    assert feature_map_size(features, size) == side
    with torch.no_grad():
        assert features(torch.zeros(1, 3, size, size)).shape == (1, 256, side, side)


def test_too_small_input_is_rejected():
    with pytest.raises(ValueError, match="too small"):
        GhoshNet(input_size=31, hidden=(8,))


@pytest.mark.parametrize("size, flat", [(257, 256 * 7 * 7), (129, 256 * 3 * 3)])
def test_output_shape_and_log_probabilities(size, flat):
    torch.manual_seed(0)
    model = GhoshNet(input_size=size, hidden=(32, 16)).eval()
    assert model.classifier[1].in_features == flat
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 2)
    assert torch.all(out <= 0)
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(2))


def test_default_head_is_two_4096_layers_for_257():
    with torch.device("meta"):  # shapes only: skip allocating and initialising 70M parameters
        model = GhoshNet()
    linears = [m for m in model.classifier if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(12544, 4096), (4096, 4096), (4096, 2)]
    assert model.arch_kwargs == {
        "input_size": 257,
        "hidden": [4096, 4096],
        "dropout": 0.5,
        "n_classes": 2,
        "backbone": "alexnet",
    }


def _torchvision_like_state(seed=0):
    generator = torch.Generator().manual_seed(seed)
    state = {
        f"features.{k}": torch.randn(shape, generator=generator) for k, shape in TORCHVISION_FEATURE_SHAPES.items()
    }
    state.update({k: torch.zeros(shape) for k, shape in TORCHVISION_CLASSIFIER_SHAPES.items() if len(shape) == 1})
    return state


def test_load_features_state_copies_features_and_ignores_classifier():
    model = GhoshNet(input_size=65, hidden=(8,))
    head_before = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    state = _torchvision_like_state()
    report = load_features_state(model, state)
    assert isinstance(report, FeatureLoadReport)
    assert report.missing == () and report.unexpected == ()
    assert len(report.loaded) == len(TORCHVISION_FEATURE_SHAPES)
    for key, value in state.items():
        if key.startswith("features."):
            assert torch.equal(model.state_dict()[key], value)
    for key, value in model.classifier.state_dict().items():
        assert torch.equal(value, head_before[key])


def test_load_features_state_reports_missing_and_unexpected():
    model = GhoshNet(input_size=65, hidden=(8,))
    state = _torchvision_like_state()
    del state["features.10.bias"]
    state["features.99.weight"] = torch.zeros(1)
    state["stray"] = torch.zeros(1)
    with pytest.raises(ValueError, match="features.10.bias"):
        load_features_state(model, state)
    report = load_features_state(model, state, strict=False)
    assert report.missing == ("features.10.bias",)
    assert report.unexpected == ("features.99.weight", "stray")
    assert torch.equal(model.features[10].weight, state["features.10.weight"])


def test_load_features_state_rejects_wrong_shapes():
    model = GhoshNet(input_size=65, hidden=(8,))
    state = _torchvision_like_state()
    state["features.0.weight"] = torch.zeros(96, 3, 11, 11)  # the original 2012 AlexNet's 96 filters
    with pytest.raises(ValueError, match=r"features.0.weight: shape \(96, 3, 11, 11\)"):
        load_features_state(model, state, strict=False)
