"""The small 50x50 CNN of Khandelwal et al., after Thanh et al. (a baseline beside AlexNet).

Input 50x50x3; two 5x5 convolutions (stride 1, padding 2, 30 maps, ReLU), a 2x2 max-pool with
stride 2, one fully connected layer to the classes, log-softmax output (train with NLL loss).
"""

from __future__ import annotations

import torch
from torch import nn

INPUT_SIZE = 50
N_MAPS = 30
KERNEL = 5


class CNN50(nn.Module):
    """(N, 3, 50, 50) float -> (N, n_classes) log-probabilities."""

    def __init__(self, n_classes: int = 2):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        self.arch_kwargs = {"n_classes": int(n_classes)}  # lets training.load_exported rebuild it
        self.features = nn.Sequential(
            nn.Conv2d(3, N_MAPS, KERNEL, stride=1, padding=KERNEL // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(N_MAPS, N_MAPS, KERNEL, stride=1, padding=KERNEL // 2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        pooled = INPUT_SIZE // 2
        self.classifier = nn.Linear(N_MAPS * pooled * pooled, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"CNN50 expects (N, 3, {INPUT_SIZE}, {INPUT_SIZE}) input, got {tuple(x.shape)}")
        x = self.features(x)
        return torch.log_softmax(self.classifier(torch.flatten(x, 1)), dim=1)
