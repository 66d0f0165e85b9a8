"""Whole-slide excitation heatmap (Ghosh, Singh & Sheet 2017, Sec. III-B); the masks built from it
are in `masks` (no torch there, so the segmentation job does not import it).

The trained convolutional layers are run over the whole slide in one forward pass (they are
fully convolutional, so any image size works). An average-pooling layer across channels then
gives, at each spatial position, the mean excitation over all filters; the small map is brought
back to image size with bilinear interpolation and scaled per image to [0, 1]. The paper's premise
is that white cells excite the filters most, so the thresholded map marks them (measured on every
slide: `localisation`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from leukoflow.core.images import image_to_batch, normalisation_constants, normalise_batch


def _module_device(module: nn.Module) -> torch.device:
    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")


def excitation_map(
    features: nn.Module,
    image: np.ndarray | torch.Tensor,
    device: str | torch.device | None = None,
    normalisation: str | None = "imagenet",
) -> np.ndarray:
    """Mean filter excitation of `features` over `image`, at image size, scaled to [0, 1].

    `features` is any module mapping (N,3,H,W) to (N,C,h,w), e.g. `GhoshNet(...).features`.
    `image` is HxWx3 uint8 (numpy or torch) or a 3xHxW float tensor in [0, 1]; it is normalised
    as the network was trained (`normalisation`: "imagenet", "signed", ... see
    `core.images.NORMALISATIONS`; None feeds [0, 1] values as they are).
    `device`: where to run; None means wherever `features`' parameters are. When given,
    `features` is moved there (`nn.Module.to` works in place; it is also converted to
    channels_last in place). The module is put in eval mode for the pass and its previous mode
    restored.

    One forward pass over the whole image under `torch.inference_mode`; on CUDA the pass uses
    bf16 autocast; channels_last memory format everywhere. Returns float32 HxW with min 0 and max 1
    (all zeros if the map is constant, e.g. no filter fires anywhere).
    """
    batch = image_to_batch(image)
    height, width = batch.shape[-2:]
    device = torch.device(device) if device is not None else _module_device(features)
    features.to(device)
    on_cuda = device.type == "cuda"

    was_training = features.training
    features.eval()
    try:
        with torch.inference_mode():
            x = batch.to(device, non_blocking=True)
            if x.dtype != torch.uint8:  # [0, 1] floats: back on the 0..255 scale the constants expect
                x = x.float() * 255.0
            if normalisation is None:
                x = x.float() / 255.0
            else:
                x = normalise_batch(x, *normalisation_constants(device, normalisation))
            autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda else contextlib.nullcontext()
            # Channels-last on every device (faster on CPU too, see inference._batches).
            x = x.contiguous(memory_format=torch.channels_last)
            features.to(memory_format=torch.channels_last)
            with autocast:
                maps = features(x)
            if maps.ndim != 4:
                raise ValueError(f"features must return (N,C,h,w) maps, got shape {tuple(maps.shape)}")
            # The paper's average-pooling layer across filters: mean excitation per position.
            mean_map = maps.float().mean(dim=1, keepdim=True)
            full = F.interpolate(mean_map, size=(height, width), mode="bilinear", align_corners=False)[0, 0]
            low, high = full.min(), full.max()
            scaled = (full - low) / (high - low) if high > low else torch.zeros_like(full)
            return scaled.clamp_(0.0, 1.0).cpu().numpy().astype(np.float32, copy=False)
    finally:
        features.train(was_training)
