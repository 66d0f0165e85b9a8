"""Inception-ResNet-v2 (Szegedy et al. 2017), the C-NMC paper's backbone, as a plain `nn.Module`.

Written here because timm (which ships the usual PyTorch port) does not import beside the CPU
torch of this project. The module tree, and so every state-dict key, is the one of timm's
`inception_resnet_v2` (`conv2d_1a.conv.weight`, `mixed_5b.branch3.1.bn.running_mean`,
`repeat_1.19.conv2d.bias`, ..., `conv2d_7b.bn.weight`), so weights exported from timm (or from
Cadene's `pretrainedmodels`, which timm's port follows) load without renaming; the classifier
`classif.*` is not part of the trunk. Batch norm eps 0.001 as in the TensorFlow original.

    trunk = InceptionResNetV2Trunk()
    trunk(torch.zeros(1, 3, 299, 299)).shape   # (1, 1536, 8, 8); inputs of 75 px and up
"""

from __future__ import annotations

import torch
from torch import nn

FEATURE_CHANNELS = 1536
MIN_INPUT = 75  # the smallest side whose unpadded stride-2 convolutions still leave a 1x1 map


class ConvBnRelu(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU: timm's `BasicConv2d` keys."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def _chain(*layers: nn.Module) -> nn.Module:
    """One layer as itself (a `branch0` key has no index), several as a Sequential."""
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


class Branches(nn.Module):
    """Parallel branches `branch0`, `branch1`, ... concatenated along the channels."""

    def __init__(self, *branches: nn.Module):
        super().__init__()
        self.n_branches = len(branches)
        for i, branch in enumerate(branches):
            self.add_module(f"branch{i}", branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n_branches)], dim=1)


class ResidualInception(Branches):
    """Branches, a 1x1 convolution (with bias) back to the input width, scaled and added to the
    input, then ReLU (except in the last block): Block35 / Block17 / Block8 of the paper."""

    def __init__(self, channels: int, branches: list[nn.Module], concat: int, scale: float, relu: bool = True):
        super().__init__(*branches)
        self.conv2d = nn.Conv2d(concat, channels, kernel_size=1)
        self.scale = float(scale)
        self.relu = nn.ReLU() if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x + self.scale * self.conv2d(super().forward(x))
        return self.relu(out) if self.relu is not None else out


def block35(scale: float = 0.17) -> ResidualInception:  # 35x35 grid at 299 px, 320 channels
    c = ConvBnRelu
    return ResidualInception(
        320,
        [
            c(320, 32, 1),
            _chain(c(320, 32, 1), c(32, 32, 3, padding=1)),
            _chain(c(320, 32, 1), c(32, 48, 3, padding=1), c(48, 64, 3, padding=1)),
        ],
        concat=128,
        scale=scale,
    )


def factorised_block(
    channels: int, first: int, widths: tuple[int, int, int], kernel: int, scale: float, relu: bool = True
) -> ResidualInception:
    """A 1x1 branch of `first` channels beside 1x1 -> 1xk -> kx1 (the factorised convolutions of
    Block17 and Block8)."""
    c = ConvBnRelu
    a, b, out = widths
    half = kernel // 2
    second = _chain(
        c(channels, a, 1), c(a, b, (1, kernel), padding=(0, half)), c(b, out, (kernel, 1), padding=(half, 0))
    )
    return ResidualInception(channels, [c(channels, first, 1), second], concat=first + out, scale=scale, relu=relu)


def block17(scale: float = 0.10) -> ResidualInception:  # 17x17 grid, 1088 channels
    return factorised_block(1088, 192, (128, 160, 192), 7, scale)


def block8(scale: float = 0.20, relu: bool = True) -> ResidualInception:  # 8x8 grid, 2080 channels
    return factorised_block(2080, 192, (192, 224, 256), 3, scale, relu)


class InceptionResNetV2Trunk(nn.Module):
    """Stem, 10 x Block35, reduction A, 20 x Block17, reduction B, 9 x Block8 + a final Block8
    without ReLU, 1x1 convolution to 1536 channels: (N, 3, H, W) -> (N, 1536, h, w)."""

    out_channels = FEATURE_CHANNELS
    # Inputs in [-1, 1] as the TensorFlow Inception models take them (timm: mean = std = 0.5);
    # "signed" is (x - 127) / 128, within 0.4% of (x - 127.5) / 127.5.
    normalisation = "signed"

    def __init__(self, in_channels: int = 3):
        super().__init__()
        c = ConvBnRelu
        self.conv2d_1a = c(in_channels, 32, 3, stride=2)
        self.conv2d_2a = c(32, 32, 3)
        self.conv2d_2b = c(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = c(64, 80, 1)
        self.conv2d_4a = c(80, 192, 3)
        self.maxpool_5a = nn.MaxPool2d(3, stride=2)
        self.mixed_5b = Branches(  # 192 -> 96 + 64 + 96 + 64 = 320
            c(192, 96, 1),
            nn.Sequential(c(192, 48, 1), c(48, 64, 5, padding=2)),
            nn.Sequential(c(192, 64, 1), c(64, 96, 3, padding=1), c(96, 96, 3, padding=1)),
            nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), c(192, 64, 1)),
        )
        self.repeat = nn.Sequential(*[block35() for _ in range(10)])
        self.mixed_6a = Branches(  # reduction A: 320 -> 384 + 384 + 320 = 1088
            c(320, 384, 3, stride=2),
            nn.Sequential(c(320, 256, 1), c(256, 256, 3, padding=1), c(256, 384, 3, stride=2)),
            nn.MaxPool2d(3, stride=2),
        )
        self.repeat_1 = nn.Sequential(*[block17() for _ in range(20)])
        self.mixed_7a = Branches(  # reduction B: 1088 -> 384 + 288 + 320 + 1088 = 2080
            nn.Sequential(c(1088, 256, 1), c(256, 384, 3, stride=2)),
            nn.Sequential(c(1088, 256, 1), c(256, 288, 3, stride=2)),
            nn.Sequential(c(1088, 256, 1), c(256, 288, 3, padding=1), c(288, 320, 3, stride=2)),
            nn.MaxPool2d(3, stride=2),
        )
        self.repeat_2 = nn.Sequential(*[block8() for _ in range(9)])
        self.block8 = block8(scale=1.0, relu=False)
        self.conv2d_7b = c(2080, FEATURE_CHANNELS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < MIN_INPUT:
            raise ValueError(f"Inception-ResNet-v2 needs inputs of at least {MIN_INPUT} px, got {tuple(x.shape[-2:])}")
        for layer in self.children():
            x = layer(x)
        return x
