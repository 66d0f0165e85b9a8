"""A small VGG-style classifier for cell crops: (conv 3x3 + batch norm + ReLU, 2x2 max-pool) per
stage, global average pooling, dropout, one linear layer, log-softmax output (train with NLL).

Global pooling makes it independent of the input size; it trains from random weights in seconds
on a CPU at 64 px, which a pretrained backbone at 224 px does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SmallCNN(nn.Module):
    """(N, in_channels, H, W) float -> (N, n_classes) log-probabilities; H, W >= 2 ** len(widths)."""

    def __init__(
        self, n_classes: int, widths: Sequence[int] = (32, 64, 128, 256), dropout: float = 0.3, in_channels: int = 3
    ):
        super().__init__()
        widths = [int(w) for w in widths]
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        if not widths or min(widths) < 1:
            raise ValueError(f"widths needs at least one positive channel count, got {widths}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.arch_kwargs = {
            "n_classes": int(n_classes),
            "widths": widths,
            "dropout": float(dropout),
            "in_channels": int(in_channels),
        }
        layers: list[nn.Module] = []
        for c_in, c_out in zip([in_channels, *widths[:-1]], widths):
            layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(widths[-1], n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).mean(dim=(2, 3))
        return torch.log_softmax(self.classifier(x), dim=1)
