"""Load exported networks and run them, without importing Lightning.

Jobs that only apply a trained network (heatmaps, patch scoring, predictions, segmentation) import
this module and torch, never the training package, so they start in a fraction of the time.

An exported model (`training.export.export_best`) is a plain dict loadable with
`torch.load(weights_only=True)`: format tag, architecture ("module:Class"), its constructor
arguments, the state dict, the input normalisation and the training metadata. Networks exported
before the package layout changed (0.1: `leukoflow.models:LeukemiaNet`, `leukoflow.cnn50:CNN50`)
load under their new names.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from leukoflow.core.errors import DatasetError
from leukoflow.core.images import check_images, normalisation_constants, normalise_batch

EXPORT_FORMAT = "leukoflow.classifier/1"
"""Format tag of exported files (classifiers and segmenters alike; the name is historical)."""

RENAMED_ARCHITECTURES = {
    "leukoflow.models:LeukemiaNet": "leukoflow.nets.ghosh:GhoshNet",  # backbone defaults to AlexNet
    "leukoflow.nets.alexnet:AlexNetClassifier": "leukoflow.nets.ghosh:GhoshNet",
    "leukoflow.cnn50:CNN50": "leukoflow.nets.cnn50:CNN50",
}


def read_exported(path: str | Path) -> dict[str, Any]:
    """The exported dict (state dict + metadata) of `path`, loaded with weights_only=True.

    Raises
    ------
    DatasetError
        When the file is missing, unreadable or not a leukoflow export.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "exported model not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DatasetError(path, f"not a readable exported model ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise DatasetError(path, f"not a leukoflow exported model (format {found!r}, expected {EXPORT_FORMAT!r})")
    return payload


def architecture_class(architecture: str, path: str | Path) -> type:
    """The class named by an export's "module:Class", following renames; leukoflow classes only,
    so a file cannot make this code import arbitrary modules."""
    architecture = RENAMED_ARCHITECTURES.get(architecture, architecture)
    module_name, _, qualname = architecture.partition(":")
    if not module_name.startswith("leukoflow.") or not qualname:
        raise DatasetError(path, f"architecture {architecture!r} is not a leukoflow network; pass model= to load it")
    try:
        cls: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError) as exc:
        raise DatasetError(
            path,
            f"architecture {architecture!r} is unknown to this leukoflow version ({exc}); "
            "retrain the model (delete the file and rerun its rule) or load it with the version that wrote it",
        ) from exc
    return cls


def load_exported(path: str | Path, model: nn.Module | None = None) -> nn.Module:
    """Rebuild (or fill `model` with) an exported network; returned in eval mode on the CPU.

    Raises
    ------
    DatasetError
        When the file cannot be read, its architecture is unknown, or the weights do not fit.
    """
    payload = read_exported(path)
    if model is None:
        cls = architecture_class(payload.get("architecture", ""), path)
        kwargs = payload.get("arch_kwargs")
        if kwargs is None:
            raise DatasetError(path, f"{payload.get('architecture')} was exported without arch_kwargs; pass model=")
        model = cls(**kwargs)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise DatasetError(path, f"weights do not fit the model: {exc}") from exc
    return model.eval()


def input_normalisation(path_or_payload) -> str:
    """The normalisation an exported network was trained with ("imagenet" before it was recorded)."""
    payload = path_or_payload if isinstance(path_or_payload, dict) else read_exported(path_or_payload)
    return payload.get("input", {}).get("normalisation", "imagenet")


def _batches(model: nn.Module, images: torch.Tensor, batch_size: int, device, normalisation: str):
    """Yield the model's float32 outputs batch by batch (uint8 to the device, normalised there)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    on_gpu = device.type == "cuda"
    # Channels-last on every device: measured 1.3-2.3x faster on 2 CPU cores for AlexNet,
    # EfficientNet-Lite0 and the U-Net (benchmarks/bench_screen.py, docs/testing.md).
    model = model.to(device).eval().to(memory_format=torch.channels_last)
    scale, shift = normalisation_constants(device, normalisation, images.shape[1])
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_gpu):
        # One (empty) batch for zero images, so an empty result still has the model's output shape.
        for start in range(0, max(images.shape[0], 1), batch_size):
            batch = images[start : start + batch_size]
            if on_gpu:
                batch = batch.pin_memory().to(device, non_blocking=True)
            yield model(normalise_batch(batch, scale, shift, channels_last=True)).float().contiguous().cpu()


def predict_proba(
    model: nn.Module, x_uint8, batch_size: int = 64, device=None, normalisation: str = "imagenet"
) -> np.ndarray:
    """Class probabilities (N, n_classes) float32 of a log-probability classifier.

    Parameters
    ----------
    model : nn.Module
        Maps normalised (N, 3, S, S) float to log-probabilities; moved to `device`, left in eval mode.
    x_uint8 : array-like
        uint8 (N, C, S, S) images (float32 features with normalisation "none").
    device : torch.device, optional
        Where to run (default CPU; use `core.device.job_device` for the workflow's policy).
        Channels-last everywhere; bf16 autocast on CUDA.
    """
    images, _ = check_images(x_uint8, name="predict", channels=None, features=normalisation == "none")
    return torch.cat(list(_batches(model, images, batch_size, device, normalisation))).exp().numpy()


def predict_foreground(
    model: nn.Module, x_uint8, batch_size: int = 8, device=None, normalisation: str = "unit"
) -> np.ndarray:
    """Foreground probabilities (N, H, W) float32 of a one-logit segmenter on uint8 (N, C, H, W)."""
    images, _ = check_images(x_uint8, name="segment", channels=(1, 3))
    outputs = [logits[:, 0].sigmoid() for logits in _batches(model, images, batch_size, device, normalisation)]
    return torch.cat(outputs).numpy()


def predict_with_features(
    model: nn.Module, x_uint8, batch_size: int = 64, device=None, normalisation: str = "imagenet"
) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (N, n_classes), pooled trunk features (N, C)) in one pass.

    For networks made of a conv trunk `features` and a head `classifier` on its flattened maps
    (`nets.ghosh.GhoshNet`): the features are the trunk's maps averaged over space, what the
    out-of-domain check compares with the training crops' (`screen.domain`).
    """
    if not (hasattr(model, "features") and hasattr(model, "classifier")):
        raise TypeError(f"{type(model).__name__} has no `features` trunk and `classifier` head")
    images, _ = check_images(x_uint8, name="predict", channels=None)

    class _Both(nn.Module):
        def __init__(self, net: nn.Module):
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            maps = self.net.features(x)
            logits = torch.log_softmax(self.net.classifier(torch.flatten(maps, 1)), dim=1)
            return torch.cat([logits, maps.float().mean(dim=(2, 3))], dim=1)

    both = torch.cat(list(_batches(_Both(model), images, batch_size, device, normalisation)))
    n_classes = getattr(model, "arch_kwargs", {}).get("n_classes", 2)
    return both[:, :n_classes].exp().numpy(), both[:, n_classes:].numpy()
