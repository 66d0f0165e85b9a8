"""The UKM-WBC paper's classifier as we read it: "five interlinked layers", the fifth the output.

Our reading (the paper gives the outline, not the sizes): three convolutional layers (3x3, ReLU,
2x2 max-pool) and one fully connected hidden layer, each feeding the next, then the output layer;
the widths (32, 64, 128 channels, 128 units) and the dropout before the output are ours. No batch
norm, as in the networks of that time. The flattened feature size follows the input size, which
`arch_kwargs` keeps so an exported file rebuilds the same network.
"""

from __future__ import annotations

import torch
from torch import nn

CONV_WIDTHS = (32, 64, 128)
HIDDEN_UNITS = 128


class FiveLayerCNN(nn.Module):
    """(N, in_channels, S, S) float -> (N, n_classes) log-probabilities; S >= 8."""

    def __init__(self, n_classes: int, input_size: int = 224, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        if input_size < 2 ** len(CONV_WIDTHS):
            raise ValueError(f"input_size must be at least {2 ** len(CONV_WIDTHS)}, got {input_size}")
        self.arch_kwargs = {
            "n_classes": int(n_classes),
            "input_size": int(input_size),
            "dropout": float(dropout),
            "in_channels": int(in_channels),
        }
        layers: list[nn.Module] = []
        for c_in, c_out in zip([in_channels, *CONV_WIDTHS[:-1]], CONV_WIDTHS):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        side = int(input_size) // 2 ** len(CONV_WIDTHS)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(CONV_WIDTHS[-1] * side * side, HIDDEN_UNITS), nn.ReLU(True))
        self.output = nn.Sequential(nn.Dropout(dropout), nn.Linear(HIDDEN_UNITS, n_classes))
        self.input_size = int(input_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(f"FiveLayerCNN was built for {self.input_size} px inputs, got {tuple(x.shape[-2:])}")
        return torch.log_softmax(self.output(self.hidden(self.features(x))), dim=1)
