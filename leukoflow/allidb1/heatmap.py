"""Whole-slide excitation heatmap and white-cell mask (Ghosh, Singh & Sheet 2017, Sec. III-B/C).

The trained convolutional layers are run over the whole slide in one forward pass (they are
fully convolutional, so any image size works). An average-pooling layer across channels then
gives, at each spatial position, the mean excitation over all filters; the small map is brought
back to image size with bilinear interpolation, scaled per image to [0, 1] and hard-thresholded.
White cells excite the filters of a network trained on white-cell crops most, so the thresholded
map marks them; the eosin channel of the HED image then removes the bright red-cell regions
that also excite it (see `wbc_mask`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.morphology import disk, opening
from torch import nn

from leukoflow.core.images import image_to_batch, imagenet_normalise
from leukoflow.core.stain import eosin_mask


def _module_device(module: nn.Module) -> torch.device:
    for parameter in module.parameters():
        return parameter.device
    return torch.device("cpu")


def excitation_map(
    features: nn.Module,
    image: np.ndarray | torch.Tensor,
    device: str | torch.device | None = None,
    normalise_input: bool = True,
) -> np.ndarray:
    """Mean filter excitation of `features` over `image`, at image size, scaled to [0, 1].

    `features` is any module mapping (N,3,H,W) to (N,C,h,w), e.g. `AlexNetClassifier(...).features`.
    `image` is HxWx3 uint8 (numpy or torch) or a 3xHxW float tensor in [0, 1]; with
    `normalise_input` it is normalised with the ImageNet mean/std, as the network was trained.
    `device`: where to run; None means wherever `features`' parameters are. When given,
    `features` is moved there (`nn.Module.to` works in place; on CUDA it is also converted to
    channels_last in place). The module is put in eval mode for the pass and its previous mode
    restored.

    One forward pass over the whole image under `torch.inference_mode`; on CUDA the pass uses
    bf16 autocast and channels_last memory format. Returns float32 HxW with min 0 and max 1
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
            if normalise_input:
                x = imagenet_normalise(x)
            else:
                x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda else contextlib.nullcontext()
            if on_cuda:
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


def threshold_map(heatmap: np.ndarray, threshold: float) -> np.ndarray:
    """Hard threshold of a [0, 1] heatmap: True strictly above `threshold`."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"heat threshold must lie in [0, 1], got {threshold}")
    return np.asarray(heatmap) > np.float32(threshold)


def remove_small_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop 8-connected components with fewer than `min_area` pixels.

    Written with scipy.ndimage rather than skimage's `remove_small_objects`, whose size argument
    changed meaning between the scikit-image versions this package supports (0.24 to 0.26).
    """
    if min_area <= 1 or not mask.any():
        return mask.copy()
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_area
    keep[0] = False
    return keep[labels]


def fill_small_holes(mask: np.ndarray, max_hole_area: int) -> np.ndarray:
    """Fill background regions enclosed by the mask that have at most `max_hole_area` pixels.

    Only small holes: the gap enclosed by a ring of touching cells is also a hole, and filling
    it would merge the ring into one blob with a single distance peak in its middle.
    """
    if max_hole_area <= 0:
        return mask.copy()
    holes = ndimage.binary_fill_holes(mask) & ~mask
    labels, _ = ndimage.label(holes)  # 4-connected: background is 4-connected under an 8-connected mask
    sizes = np.bincount(labels.ravel())
    small = sizes <= max_hole_area
    small[0] = False
    return mask | small[labels]


def wbc_mask(
    rgb: np.ndarray,
    heatmap: np.ndarray,
    heat_threshold: float,
    eosin_threshold: float | None,
    min_area: int = 0,
    opening_radius: int = 2,
    max_hole_area: int = 64,
) -> np.ndarray:
    """Binary white-cell mask: hot in the heatmap AND stained by eosin, then cleaned.

    `heatmap` is `excitation_map`'s output for `rgb` (same height and width). A pixel is kept
    where the heatmap exceeds `heat_threshold` and the eosin channel exceeds `eosin_threshold`
    (see `stain.eosin_mask` for that scale; None = Otsu). Clean-up, in order: a binary opening
    with a disk of `opening_radius` (skimage.morphology) removes thin bridges and isolated
    pixels along red-cell rims; holes of at most `max_hole_area` pixels are filled (pale nucleoli
    or cytoplasm inside a cell must not put false peaks into the distance map used for
    centroids, while the larger gap inside a ring of touching cells must stay open, see
    `fill_small_holes`; the right size depends on magnification, so the default 64 px is
    deliberately small); components under `min_area` pixels (platelets, debris) are dropped.
    """
    rgb = np.asarray(rgb)
    heatmap = np.asarray(heatmap)
    if heatmap.shape != rgb.shape[:2]:
        raise ValueError(f"heatmap shape {heatmap.shape} does not match image shape {rgb.shape[:2]}")
    mask = threshold_map(heatmap, heat_threshold) & eosin_mask(rgb, eosin_threshold)
    if opening_radius > 0:
        mask = opening(mask, disk(opening_radius)).astype(bool, copy=False)
    mask = fill_small_holes(mask, max_hole_area)
    return remove_small_components(mask, min_area)
