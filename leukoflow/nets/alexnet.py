"""The AlexNet-based leukemia classifier of Ghosh, Singh & Sheet (2017).

AlexNet's convolutional stack (the `features` part, laid out and named exactly as torchvision's
`alexnet` so ImageNet weights load key for key) followed by new fully connected layers sized for
the input (257x257 in the paper, giving 256x7x7 feature maps) and a two-way log-softmax. The
convolutional layers are fine-tuned from ImageNet weights; the linear layers start from scratch.

torchvision's AlexNet, whose ImageNet weights are the ones that can be had, is the variant of
Krizhevsky's "one weird trick" paper: 64-192-384-256-256 filters, where the original AlexNet
(and Caffe's, which the 2017 paper may have fine-tuned) has 96-256-384-384-256.

torchvision is deliberately not imported: the architecture is small enough to write out, and the
package then needs only torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

FEATURE_CHANNELS = 256  # output channels of AlexNet's last convolution


def alexnet_features() -> nn.Sequential:
    """AlexNet's convolutional layers, index for index as torchvision's `alexnet().features`."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),  # features.0
        nn.ReLU(inplace=True),  # .1
        nn.MaxPool2d(kernel_size=3, stride=2),  # .2
        nn.Conv2d(64, 192, kernel_size=5, padding=2),  # .3
        nn.ReLU(inplace=True),  # .4
        nn.MaxPool2d(kernel_size=3, stride=2),  # .5
        nn.Conv2d(192, 384, kernel_size=3, padding=1),  # .6
        nn.ReLU(inplace=True),  # .7
        nn.Conv2d(384, 256, kernel_size=3, padding=1),  # .8
        nn.ReLU(inplace=True),  # .9
        nn.Conv2d(256, 256, kernel_size=3, padding=1),  # .10
        nn.ReLU(inplace=True),  # .11
        nn.MaxPool2d(kernel_size=3, stride=2),  # .12
    )


def feature_map_size(features: nn.Sequential, input_size: int) -> int:
    """Side length of the square map that `features` produces from an input_size x input_size image.

    Walks the convolution and pooling layers with the usual floor((n + 2p - d(k-1) - 1) / s) + 1
    rule instead of running a dummy forward pass, so building the model costs no compute.
    """
    size = int(input_size)
    for layer in features:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            kernel, stride, padding, dilation = (
                _first(layer.kernel_size),
                _first(layer.stride),
                _first(layer.padding),
                _first(layer.dilation),
            )
            if getattr(layer, "ceil_mode", False):
                raise ValueError("feature_map_size does not handle ceil_mode pooling")
            size = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
            if size < 1:
                raise ValueError(f"input_size {input_size} is too small for the AlexNet feature layers")
    return size


def _first(value) -> int:
    """Square kernels/strides only: torch stores them as ints or (h, w) tuples."""
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(f"non-square layer parameter {value}")
        return int(value[0])
    return int(value)


def classifier_head(width: int, hidden: Sequence[int], dropout: float, n_classes: int) -> nn.Sequential:
    """AlexNet's head layout on `width` flattened features: dropout, linear, ReLU per hidden layer,
    then a final linear layer to `n_classes` scores."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Dropout(dropout), nn.Linear(width, size), nn.ReLU(inplace=True)]
        width = size
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class FeatureLoadReport:
    """What `load_features_state` did: keys copied, feature keys absent from the file, keys not understood."""

    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]


def load_features_state(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, strict: bool = True
) -> FeatureLoadReport:
    """Copy the `features.*` tensors of a torchvision-style AlexNet state dict into `model.features`.

    `classifier.*` keys are ignored on purpose: the paper's head is new and sized differently.
    Any other key is reported as unexpected, and feature parameters the file lacks as missing; with
    `strict` (the default) either raises ValueError, because a half-loaded backbone would silently
    train from a partly random start. A shape mismatch always raises.
    """
    prefix = "features."
    own = model.features.state_dict()
    subset = {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}
    unexpected = sorted(
        key
        for key in state_dict
        if not key.startswith("classifier.") and not (key.startswith(prefix) and key[len(prefix) :] in own)
    )
    missing = sorted(prefix + key for key in own if key not in subset)
    for key, value in subset.items():
        if key in own and tuple(value.shape) != tuple(own[key].shape):
            raise ValueError(
                f"{prefix}{key}: shape {tuple(value.shape)} in the weights, {tuple(own[key].shape)} in the model"
            )
    if strict and (missing or unexpected):
        raise ValueError(f"feature weights do not match the model: missing {missing}, unexpected {unexpected}")
    loadable = {key: value for key, value in subset.items() if key in own}
    model.features.load_state_dict(loadable, strict=False)
    return FeatureLoadReport(
        loaded=tuple(sorted(prefix + key for key in loadable)),
        missing=tuple(missing),
        unexpected=tuple(unexpected),
    )
