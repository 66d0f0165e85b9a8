"""The networks of Liu & Long (2019) as plain `nn.Module`s, on any backbone of `nets.backbones`.

  BackboneClassifier   stage 1 (model-A, model-B): trunk -> global average pool -> linear ->
                       log-softmax
  CombinedClassifier   stage 2: the two stage-1 trunks side by side, each pooled feature vector
                       batch-normalised, concatenated, two fully connected layers of `hidden`
                       (1024) units with ReLU and dropout (0.6), a linear output, log-softmax

Both return log-probabilities (the classifier contract of `training.fit`). `arch_kwargs` never
holds pretrained weights: an exported file rebuilds the network empty and loads its own state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from leukoflow.nets.backbones import build_backbone


def set_batchnorm_momentum(network: nn.Module, momentum: float) -> int:
    """Set the running-statistics momentum of every batch-norm layer; returns how many.

    EfficientNet-Lite0's TensorFlow-ported layers use 0.01 (Keras's 0.99), which needs thousands
    of steps to move the ImageNet statistics to cell crops; on a few hundred cells the trained
    weights then meet stale statistics at validation. PyTorch's 0.1 is our default.
    """
    layers = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for layer in layers:
        layer.momentum = float(momentum)
    return len(layers)


class BackboneClassifier(nn.Module):
    """A trunk with a linear head; `pretrained` initialises the trunk only."""

    def __init__(self, backbone: str, n_classes: int = 2, pretrained: str = "none", cache_dir: str = "."):
        super().__init__()
        self.trunk = build_backbone(backbone, pretrained, cache_dir)
        self.head = nn.Linear(self.trunk.out_channels, n_classes)
        self.normalisation = self.trunk.normalisation
        self.arch_kwargs = {"backbone": backbone, "n_classes": n_classes}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.head(self.features(x)), dim=1)


class CombinedClassifier(nn.Module):
    """Stage 2: model-A's and model-B's trunks as feature extractors under a new head.

    `freeze_trunks` keeps both trunks fixed (inference mode, no gradients): our option for a
    faster stage 2; the paper fine-tunes the combined network (the default).
    """

    def __init__(
        self,
        backbone: str,
        n_classes: int = 2,
        hidden: int = 1024,
        dropout: float = 0.6,
        freeze_trunks: bool = False,
    ):
        super().__init__()
        self.trunk_a = build_backbone(backbone, "none")
        self.trunk_b = build_backbone(backbone, "none")
        channels = self.trunk_a.out_channels
        self.norm_a = nn.BatchNorm1d(channels)
        self.norm_b = nn.BatchNorm1d(channels)
        self.head = nn.Sequential(
            nn.Linear(2 * channels, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )
        self.freeze_trunks = bool(freeze_trunks)
        if self.freeze_trunks:
            for parameter in [*self.trunk_a.parameters(), *self.trunk_b.parameters()]:
                parameter.requires_grad_(False)
        self.normalisation = self.trunk_a.normalisation
        self.arch_kwargs = {
            "backbone": backbone,
            "n_classes": n_classes,
            "hidden": hidden,
            "dropout": dropout,
            "freeze_trunks": self.freeze_trunks,
        }

    def load_trunks(self, state_a: dict, state_b: dict) -> None:
        """Copy the trunks of two stage-1 state dicts (keys `trunk.*`) into this network."""
        for trunk, state in ((self.trunk_a, state_a), (self.trunk_b, state_b)):
            trunk_state = {key[len("trunk.") :]: value for key, value in state.items() if key.startswith("trunk.")}
            trunk.load_state_dict(trunk_state)

    def train(self, mode: bool = True) -> CombinedClassifier:
        super().train(mode)
        if self.freeze_trunks:  # frozen trunks keep their batch-norm statistics too
            self.trunk_a.eval()
            self.trunk_b.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_trunks):
            features_a = self.trunk_a(x).mean(dim=(2, 3))
            features_b = self.trunk_b(x).mean(dim=(2, 3))
        features = torch.cat([self.norm_a(features_a), self.norm_b(features_b)], dim=1)
        return F.log_softmax(self.head(features), dim=1)
