"""Image tensors: layout conversion, normalisation, resizing, padding. One copy of each.

Conventions: a single image is an HxWx3 (or HxW) uint8 numpy array; a batch is an (N, C, H, W)
torch tensor, uint8 until it meets a network. Normalisation happens on the batch's own device,
so a GPU receives 1 byte per pixel and converts there.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from leukoflow.core.errors import DatasetError, warn_once

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALISATIONS = ("imagenet", "unit", "signed", "none")
"""`imagenet`: RGB scaled to [0, 1], minus ImageNet's mean, over its std (torchvision-style ImageNet
weights). `unit`: any channel count scaled to [0, 1] (the U-Net on grey CLAHE images). `signed`:
(x - 127) / 128, the input of the TensorFlow EfficientNet-Lite models. `none`: inputs that are
already float features (the stored output of frozen network layers), used as they are."""


def check_images(
    images, labels=None, *, name: str = "images", channels: tuple[int, ...] | None = (3,), features: bool = False
):
    """Validate and convert uint8 images (N, C, H, W) and optional integer targets to CPU tensors.

    Parameters
    ----------
    images : array-like
        uint8 (N, C, H, W) with C in `channels` (None: any); with `features`, float32 maps instead.
    labels : array-like, optional
        Integer targets: class labels (N,) or masks (N, H, W).
    name : str
        Used in error messages.

    Returns
    -------
    (torch.Tensor, torch.Tensor | None)
        The images and the targets as int64 (labels) or uint8 (masks).

    Raises
    ------
    ValueError
        On a wrong dtype, shape, channel count, target count or negative label.
    """
    images = torch.as_tensor(images)
    dtype = torch.float32 if features else torch.uint8
    if images.dtype != dtype or images.ndim != 4 or (channels is not None and images.shape[1] not in channels):
        wanted = "C" if channels is None else "/".join(str(c) for c in channels)
        kind = "float32" if features else "uint8"
        raise ValueError(f"{name}: expected {kind} (N, {wanted}, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels is None:
        return images, None
    labels = torch.as_tensor(labels)
    if labels.ndim not in (1, 3) or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{name}: expected {images.shape[0]} labels or masks, got shape {tuple(labels.shape)}")
    if labels.ndim == 3 and tuple(labels.shape[1:]) != tuple(images.shape[2:]):
        raise ValueError(f"{name}: masks {tuple(labels.shape[1:])} do not match images {tuple(images.shape[2:])}")
    if labels.dtype.is_floating_point:
        raise ValueError(f"{name}: labels must be integers, got {labels.dtype}")
    if labels.ndim == 3:
        return images, labels.to(torch.uint8)
    if labels.dtype == torch.bool:
        raise ValueError(f"{name}: labels must be integers, got {labels.dtype}")
    if labels.numel() and labels.min() < 0:
        raise ValueError(f"{name}: labels must be >= 0")
    return images, labels.to(torch.int64)


def normalisation_constants(
    device: torch.device | str, normalisation: str = "imagenet", channels: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), shaped (1, C, 1, 1), with `uint8 * scale + shift` the normalised input.

    Parameters
    ----------
    device : torch.device or str
    normalisation : {"imagenet", "unit", "signed", "none"}
        See `NORMALISATIONS`.
    channels : int
        Channel count for "unit", "signed" and "none" (ImageNet normalisation needs 3).

    Raises
    ------
    ValueError
        For an unknown normalisation, or "imagenet" with other than 3 channels.
    """
    if normalisation == "unit":
        scale = torch.full((1, channels, 1, 1), 1.0 / 255.0, dtype=torch.float32, device=device)
        return scale, torch.zeros_like(scale)
    if normalisation == "none":
        scale = torch.ones((1, channels, 1, 1), dtype=torch.float32, device=device)
        return scale, torch.zeros_like(scale)
    if normalisation == "signed":
        scale = torch.full((1, channels, 1, 1), 1.0 / 128.0, dtype=torch.float32, device=device)
        return scale, torch.full_like(scale, -127.0 / 128.0)
    if normalisation != "imagenet":
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    if channels != 3:
        raise ValueError(f"imagenet normalisation needs 3 channels, got {channels}")
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return 1.0 / (255.0 * std), -mean / std


def normalise_batch(
    images: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, channels_last: bool = False
) -> torch.Tensor:
    """uint8 (or float feature) batch -> normalised float32 on its device (one multiply-add)."""
    out = images.to(torch.float32).mul_(scale).add_(shift)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def imagenet_normalise(batch: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) uint8, or float in [0, 1], -> float32 normalised with ImageNet's mean and std."""
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"expected an (N,3,H,W) batch, got shape {tuple(batch.shape)}")
    if batch.dtype == torch.uint8:
        scale, shift = normalisation_constants(batch.device)
        return normalise_batch(batch, scale, shift)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=batch.device).view(1, 3, 1, 1)
    return (batch.float() - mean) / std


def image_to_batch(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """An HxWx3 uint8 image (numpy or torch), or a 3xHxW float tensor in [0, 1], as (1, 3, H, W)."""
    tensor = torch.as_tensor(np.ascontiguousarray(image) if isinstance(image, np.ndarray) else image)
    if tensor.ndim == 3 and tensor.shape[2] == 3 and tensor.dtype == torch.uint8:
        return tensor.permute(2, 0, 1).unsqueeze(0)
    if tensor.ndim == 3 and tensor.shape[0] == 3 and tensor.is_floating_point():
        return tensor.unsqueeze(0)
    raise ValueError(
        f"expected an HxWx3 uint8 image or a 3xHxW float tensor, got shape {tuple(tensor.shape)} dtype {tensor.dtype}"
    )


def resize_batch(images: torch.Tensor, size: int | tuple[int, int], chunk: int = 256) -> torch.Tensor:
    """Antialiased bilinear resize of a uint8 (N, C, H, W) batch, in chunks on its device.

    Parameters
    ----------
    images : torch.Tensor
        uint8 (N, C, H, W).
    size : int or (int, int)
        Output side, or (height, width).
    chunk : int
        Images converted to float32 at a time (bounds memory).

    Returns
    -------
    torch.Tensor
        uint8 (N, C, height, width); the input itself when it already has that size.
    """
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if tuple(images.shape[-2:]) == (height, width):
        return images
    out = torch.empty((images.shape[0], images.shape[1], height, width), dtype=torch.uint8, device=images.device)
    for start in range(0, images.shape[0], chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(part, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def resize_image(rgb: np.ndarray, scale: float) -> np.ndarray:
    """Antialiased bilinear resize of one HxWx3 uint8 image by `scale` (float32 maths)."""
    if scale == 1.0:
        return rgb
    height, width = round(rgb.shape[0] * scale), round(rgb.shape[1] * scale)
    # Decoded images are read-only views; torch wants memory it may write.
    rgb = np.ascontiguousarray(rgb) if rgb.flags.writeable else np.array(rgb)
    batch = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    return resize_batch(batch, (height, width))[0].permute(1, 2, 0).contiguous().numpy()


def upsample_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A float map (h, w) brought to `shape` (H, W) by bilinear interpolation, as float32."""
    tensor = torch.from_numpy(np.asarray(values, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=tuple(shape), mode="bilinear", align_corners=False)[0, 0].numpy()


def pad_to_square(image: np.ndarray, size: int, *, name: str = "<array>") -> np.ndarray:
    """Bring an HxWx3 uint8 crop to size x size x 3: centre-pad smaller sides, centre-crop larger.

    A crop larger than the frame logs a warning naming `name` (once per file and process).

    Padding reflects the image rather than adding a constant: a flat border that only a few
    (class-unbalanced) images have could become a class cue. numpy's "reflect" needs the side
    to be longer than the pad; shorter sides fall back to "symmetric".

    Parameters
    ----------
    image : numpy.ndarray
        HxWx3 uint8.
    size : int
        Output side.
    name : str
        The file the image came from, for error messages.

    Raises
    ------
    DatasetError
        When the array is not a non-empty HxWx3 uint8 image.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise DatasetError(name, f"expected an HxWx3 image, got shape {shape}")
    if image.dtype != np.uint8:
        raise DatasetError(name, f"expected uint8 pixels, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise DatasetError(name, f"empty image of shape {image.shape}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")

    height, width = image.shape[:2]
    if height > size or width > size:
        # The border is cut off unseen by anyone: say so once per file in the job's log.
        warn_once(
            log,
            name,
            "centre-cropped",
            f"{width}x{height} crop is larger than the {size}x{size} frame: centre-cropped, "
            f"{max(width - size, 0)} px of width and {max(height - size, 0)} px of height dropped",
        )
    top = max(height - size, 0) // 2
    left = max(width - size, 0) // 2
    image = image[top : top + min(height, size), left : left + min(width, size)]

    pads = []
    for length in image.shape[:2]:
        missing = size - length
        pads.append((missing // 2, missing - missing // 2))
    pads.append((0, 0))
    if all(before == 0 and after == 0 for before, after in pads):
        return np.ascontiguousarray(image)
    reflect_ok = all(max(before, after) <= length - 1 for (before, after), length in zip(pads, image.shape[:2]))
    return np.pad(image, pads, mode="reflect" if reflect_ok else "symmetric")
