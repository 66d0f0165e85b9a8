"""The U-Net of Ronneberger, Fischer & Brox (2015) for one-channel foreground segmentation.

    unet = UNet(in_channels=1, out_channels=1, features=(64, 128, 256, 512, 1024))
    logits = unet(x)                # (N, 1, H, W) for any (N, C, H, W) input

Contracting path: per level two 3x3 convolutions + ReLU, then a 2x2 max-pool; expanding path: a
2x2 transposed convolution ("up-conv") that halves the channels, concatenation with the skip of the
same level, two 3x3 convolutions + ReLU; a 1x1 convolution to the output channels. Convolutions are
padded ("same"), so the output has the input's size; an input whose sides are not multiples of
2^(levels - 1) is padded inside `forward` (edge pixels repeated) and the output cropped back.

Written here rather than taken from MONAI (docs/ukm.md): `import monai` loads its whole package
(transforms, data, scipy.signal, matplotlib) and measured 3.5-4.8 s on top of torch's 2-3 s on the
2-core development machine, which every segmentation job would pay; MONAI's `UNet` downsamples
with strided residual units instead of max-pooling, and its `BasicUNet` defaults to instance norm,
LeakyReLU and dropout and keeps the channels at its last up-convolution. This module is the
published layout in 60 lines of torch, with state-dict keys that do not change with a MONAI release.
Nothing in it is dataset-specific: any channel count, any image size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("none", "batch")
PAPER_FEATURES = (64, 128, 256, 512, 1024)


def double_conv(in_channels: int, out_channels: int, norm: str) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by ReLU (and batch norm before it with norm="batch")."""
    layers: list[nn.Module] = []
    for channels_in in (in_channels, out_channels):
        layers.append(nn.Conv2d(channels_in, out_channels, 3, padding=1, bias=norm == "none"))
        if norm == "batch":
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """(N, in_channels, H, W) float -> (N, out_channels, H, W) logits, for any H and W.

    Parameters
    ----------
    in_channels, out_channels : int
        1 and 1 for a foreground logit on grey images.
    features : sequence of int
        Channels per level, top to bottom; len(features) - 1 max-pools, so sides are padded to a
        multiple of 2 ** (len(features) - 1) (16 for the published five levels).
    norm : {"none", "batch"}
        "none" is the published network; "batch" adds batch normalisation after every 3x3
        convolution (trains faster from scratch on small sets).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        features: Sequence[int] = PAPER_FEATURES,
        norm: str = "none",
    ):
        super().__init__()
        features = [int(f) for f in features]
        if len(features) < 2 or min(features) < 1:
            raise ValueError(f"features needs at least two positive channel counts, got {features}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"channel counts must be positive, got {in_channels} in, {out_channels} out")
        self.arch_kwargs = {
            "in_channels": int(in_channels),
            "out_channels": int(out_channels),
            "features": features,
            "norm": norm,
        }
        self.multiple = 2 ** (len(features) - 1)
        self.down = nn.ModuleList(
            [double_conv(c_in, c_out, norm) for c_in, c_out in zip([in_channels, *features[:-2]], features[:-1])]
        )
        self.bottom = double_conv(features[-2], features[-1], norm)
        deep_to_shallow = features[::-1]
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(c_in, c_out, 2, stride=2) for c_in, c_out in zip(deep_to_shallow, deep_to_shallow[1:])]
        )
        self.up_conv = nn.ModuleList([double_conv(2 * c, c, norm) for c in deep_to_shallow[1:]])
        self.head = nn.Conv2d(features[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"UNet expects (N, C, H, W) input, got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % self.multiple, -width % self.multiple
        if pad_h or pad_w:
            # Edge pixels repeated, split evenly: zeros would draw a dark frame the network has
            # never seen, and centring keeps a cell in the middle of the receptive fields.
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), mode="replicate")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, block, skip in zip(self.up, self.up_conv, reversed(skips)):
            x = block(torch.cat([skip, up(x)], dim=1))
        x = self.head(x)
        if pad_h or pad_w:
            x = x[..., pad_h // 2 : pad_h // 2 + height, pad_w // 2 : pad_w // 2 + width]
        return x
