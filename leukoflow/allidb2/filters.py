"""Analysis of the last convolutional layer's filters (Ghosh, Singh & Sheet 2017, Sec. IV-B/C).

* Filter blinding: zero one filter's output map at a time and measure how much the classification
  error over held-out patches rises; filters the decision depends on raise it most.
  `blinding_errors` (used by the workflow) runs the conv stack ONCE and only the linear head per
  filter: in AlexNet's layout the last conv is followed only by ReLU and max-pooling, which keep a
  zeroed channel at zero, so blinding filter f equals zeroing channel f of the pooled features.
  `filter_blinding_errors` (a forward hook on the conv layer, full passes) is the reference it is
  tested against, and works for any layout.
* White-image maps: the response of every filter to a uniformly white image, compared pairwise
  with the Jensen-Shannon distance (maps treated as probability distributions over positions)
  and shown as a matrix sorted by hierarchical-clustering leaf order.

Models are anything with a `.features` nn.Sequential of conv layers (e.g. `GhoshNet`)
whose forward returns class scores (only the arg-max is used), or a single score column.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
from scipy.spatial.distance import squareform
from torch import nn

from leukoflow.core.images import imagenet_normalise, normalisation_constants, normalise_batch
from leukoflow.core.io import write_table_atomic
from leukoflow.report.plotting import pyplot, save_figure


def conv_layer_index(features: nn.Module, layer_index: int | None = None) -> int:
    """Index in `features` of the conv layer to analyse: `layer_index`, or the last Conv2d."""
    layers = list(features.children())
    conv_indices = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Conv2d)]
    if not conv_indices:
        raise ValueError("features holds no nn.Conv2d layer")
    if layer_index is None:
        return conv_indices[-1]
    if not -len(layers) <= layer_index < len(layers):
        raise ValueError(f"layer_index {layer_index} out of range for {len(layers)} layers")
    layer_index %= len(layers)
    if not isinstance(layers[layer_index], nn.Conv2d):
        raise ValueError(f"features[{layer_index}] is {type(layers[layer_index]).__name__}, not nn.Conv2d")
    return layer_index


def _prepare(patches: torch.Tensor) -> torch.Tensor:
    # uint8 patches (as from `core.crops.extract_patches`) get the ImageNet normalisation the
    # network was trained with; float patches are taken to be model-ready already.
    return imagenet_normalise(patches) if patches.dtype == torch.uint8 else patches.float()


def _predictions(scores: torch.Tensor) -> torch.Tensor:
    if scores.ndim == 2 and scores.shape[1] > 1:
        return scores.argmax(dim=1)
    return (scores.reshape(len(scores)) > 0).long()


def filter_blinding_errors(
    model: nn.Module,
    patches: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    layer_index: int | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Classification error over `patches` with each filter of one conv layer blinded in turn.

    `patches`: (N, 3, H, W), uint8 (ImageNet-normalised here) or float (used as given).
    `labels`: (N,) integer classes. `layer_index` indexes `model.features` and must be a Conv2d;
    None means the last one. Returns float64 (F,): entry f is the error rate with filter f's
    output map set to zero (a forward hook on that layer; zero stays zero through the ReLU that
    follows it in AlexNet). Compare with `classification_error(model, patches, labels)`.

    Batched over filters too: each forward pass stacks copies of a patch chunk, one per filter
    in a group, and the hook zeroes a different channel in each copy, so a pass holds up to
    `batch_size` images whatever N is. The model runs in eval mode under inference_mode on the
    device of its parameters; its training flag is restored afterwards.
    """
    layer = list(model.features.children())[conv_layer_index(model.features, layer_index)]
    n_filters = layer.out_channels
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(-1)
    if len(labels) != len(patches):
        raise ValueError(f"{len(patches)} patches but {len(labels)} labels")
    device = next(model.parameters()).device
    errors = torch.zeros(n_filters, dtype=torch.float64)
    state = {"blind": None}  # the channel index zeroed in each copy of the current chunk

    def blind(_module, _inputs, output):
        channels = state["blind"]
        if channels is None:
            return output
        group = len(channels)
        keep = torch.ones(group, output.shape[1], dtype=output.dtype, device=output.device)
        keep[torch.arange(group, device=output.device), channels] = 0
        shaped = output.reshape(group, -1, *output.shape[1:])
        return (shaped * keep[:, None, :, None, None]).reshape(output.shape)

    handle = layer.register_forward_hook(blind)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            chunk = max(1, min(len(patches), batch_size))
            for start in range(0, len(patches), chunk):
                x = _prepare(patches[start : start + chunk]).to(device)
                y = labels[start : start + chunk].to(device)
                group = max(1, batch_size // len(x))
                for first in range(0, n_filters, group):
                    channels = torch.arange(first, min(first + group, n_filters), device=device)
                    state["blind"] = channels
                    batch = x.repeat(len(channels), 1, 1, 1)  # copy-major: copy c holds the whole chunk
                    wrong = _predictions(model(batch)).reshape(len(channels), len(x)) != y[None, :]
                    errors[first : first + len(channels)] += wrong.sum(dim=1).double().cpu()
    finally:
        state["blind"] = None
        handle.remove()
        model.train(was_training)
    return (errors / len(patches)).numpy()


def classification_error(model: nn.Module, patches: torch.Tensor, labels, batch_size: int = 256) -> float:
    """Error rate of `model` on `patches` with nothing blinded (the baseline for blinding)."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(-1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    wrong = 0
    try:
        with torch.inference_mode():
            for start in range(0, len(patches), batch_size):
                x = _prepare(patches[start : start + batch_size]).to(device)
                wrong += int((_predictions(model(x)).cpu() != labels[start : start + batch_size]).sum())
    finally:
        model.train(was_training)
    return wrong / len(patches)


def white_image_maps(features: nn.Module, size: int | tuple[int, int], normalise_input: bool = True) -> np.ndarray:
    """Output maps (F, h, w) float32 of `features` for one uniformly white image.

    `size` is the image side (or (height, width)). The white image is uint8 255 in every
    channel, ImageNet-normalised when `normalise_input` (what the trained network sees for a
    white pixel). The maps are those of the whole `features` stack, whose channels are the last
    conv layer's filters passed through ReLU/pooling, hence non-negative for AlexNet.
    """
    height, width = (size, size) if isinstance(size, int) else size
    device = next(features.parameters()).device
    white = torch.full((1, 3, height, width), 255, dtype=torch.uint8, device=device)
    x = imagenet_normalise(white) if normalise_input else torch.ones((1, 3, height, width), device=device)
    was_training = features.training
    features.eval()
    try:
        with torch.inference_mode():
            return features(x)[0].float().cpu().numpy()
    finally:
        features.train(was_training)


def _as_distributions(maps: np.ndarray) -> np.ndarray:
    flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1)
    if (flat < 0).any():
        raise ValueError("filter maps must be non-negative to be read as distributions (take them after the ReLU)")
    totals = flat.sum(axis=1, keepdims=True)
    # A filter silent everywhere has no distribution; read it as uniform (no preferred position).
    uniform = np.full_like(flat, 1.0 / flat.shape[1])
    return np.where(totals > 0, flat / np.where(totals > 0, totals, 1.0), uniform)


def _entropy_bits(p: np.ndarray, axis: int = -1) -> np.ndarray:
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logs).sum(axis=axis)


def js_distance_matrix(maps: np.ndarray, block: int = 64) -> np.ndarray:
    """Pairwise Jensen-Shannon distances (F, F) between filter maps (F, ...) as distributions.

    Each map is divided by its sum (silent maps count as uniform). The distance is the square
    root of the JS divergence in bits, so it lies in [0, 1]; it equals
    `scipy.spatial.distance.jensenshannon(p, q, base=2)`. Vectorised as
    JSD = H((p+q)/2) - (H(p)+H(q))/2, in blocks of `block` rows to bound memory (F x block x
    positions values). float64: the matrix is small and the square root of a divergence needs
    the precision near 0.
    """
    p = _as_distributions(maps)
    entropy = _entropy_bits(p)
    divergence = np.empty((len(p), len(p)))
    for start in range(0, len(p), block):
        mixture = 0.5 * (p[start : start + block, None, :] + p[None, :, :])
        divergence[start : start + block] = _entropy_bits(mixture) - 0.5 * (
            entropy[start : start + block, None] + entropy[None, :]
        )
    divergence = 0.5 * (divergence + divergence.T)  # exact symmetry despite rounding
    np.fill_diagonal(divergence, 0.0)
    return np.sqrt(np.clip(divergence, 0.0, 1.0))


OPTIMAL_ORDERING_MAX = 512  # AlexNet's 256 filters; EfficientNet-Lite0's 1280 take the plain leaf order


def sorted_order(matrix: np.ndarray, method: str = "average") -> np.ndarray:
    """Leaf order of a hierarchical clustering of a distance matrix, for the sorted plot.

    `linkage` with `method` on the condensed matrix, then the optimal leaf ordering (adjacent
    leaves as similar as possible) up to `OPTIMAL_ORDERING_MAX` filters, the tree's own leaf
    order above. Plot `matrix[np.ix_(order, order)]`.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"expected a square distance matrix, got shape {matrix.shape}")
    if len(matrix) < 2:
        return np.arange(len(matrix))
    condensed = squareform(matrix, checks=False)
    tree = linkage(condensed, method=method)
    if len(matrix) > OPTIMAL_ORDERING_MAX:  # its cost grows with the cube of the filter count
        return leaves_list(tree).astype(np.int64)
    return leaves_list(optimal_leaf_ordering(tree, condensed)).astype(np.int64)


log = logging.getLogger(__name__)


@torch.inference_mode()
def blinding_errors(model: nn.Module, patches: torch.Tensor, labels, chunk: int = 64) -> tuple[float, np.ndarray]:
    """(baseline error, error with each last-layer filter blinded) for uint8 patches (N,3,S,S)."""
    model.eval()
    labels = torch.as_tensor(np.asarray(labels))
    # The normalisation the network was trained with (EfficientNet-Lite0's is not ImageNet's).
    scale, shift = normalisation_constants(patches.device, getattr(model, "normalisation", "imagenet"))
    pooled = torch.cat(
        [model.features(normalise_batch(patches[i : i + chunk], scale, shift)) for i in range(0, len(patches), chunk)]
    )
    n_filters = pooled.shape[1]

    def error(features: torch.Tensor) -> float:
        predictions = model.classifier(torch.flatten(features, 1)).argmax(1)
        return float((predictions != labels).float().mean())

    baseline = error(pooled)
    errors = np.empty(n_filters)
    layers = list(model.classifier.children())
    first = next((i for i, layer in enumerate(layers) if not isinstance(layer, nn.Dropout)), None)
    if first is not None and isinstance(layers[first], nn.Linear):
        # The head starts with a linear layer (after dropout, idle in eval mode): blinding filter f
        # removes only its columns' share of that layer's output, so the first layer runs once
        # and each filter costs a product with its own columns (EfficientNet-Lite0: 1280 filters).
        linear, rest = layers[first], nn.Sequential(*layers[first + 1 :])
        flat = torch.flatten(pooled, 1)
        base = linear(flat)
        width = flat.shape[1] // n_filters  # flattening is channel-major: filter f owns one block
        for f in range(n_filters):
            columns = slice(f * width, (f + 1) * width)
            hidden = base - flat[:, columns] @ linear.weight[:, columns].T
            errors[f] = float((rest(hidden).argmax(1) != labels).float().mean())
        return baseline, errors
    for f in range(n_filters):  # one cheap linear head pass per filter
        blinded = pooled.clone()
        blinded[:, f] = 0
        errors[f] = error(blinded)
    return baseline, errors


def plot_blinding(errors: np.ndarray, baseline: float, out_png: str, title: str) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(9, 3))
    ax.bar(np.arange(len(errors)), errors, width=1.0, color="#5b6bb5")
    ax.axhline(baseline, color="crimson", lw=1, label=f"no filter blinded ({100 * baseline:.1f}%)")
    ax.set(xlabel="blinded filter of the last conv layer", ylabel="classification error", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=100)


def plot_matrix(matrix: np.ndarray, out_png: str, title: str) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 4.4))
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="Jensen-Shannon distance")
    ax.set(xlabel="filter", ylabel="filter", title=title)
    fig.tight_layout()
    save_figure(fig, out_png, dpi=100)


def write_filter_analysis(
    *,
    model: nn.Module,
    patches: torch.Tensor,
    labels,
    input_size: int,
    blinding_out: str,
    blinding_png: str,
    js_raw_png: str,
    js_sorted_png: str,
    label: str = "",
) -> pd.DataFrame:
    baseline, errors = blinding_errors(model, patches, labels)
    table = pd.DataFrame(
        {
            "filter": np.arange(len(errors)),
            "error": errors,
            "baseline_error": baseline,
            "error_increase": errors - baseline,
            "n_patches": len(patches),
        }
    )
    write_table_atomic(table, blinding_out)
    plot_blinding(errors, baseline, blinding_png, f"Filter blinding on {len(patches)} test patches{label}")
    maps = white_image_maps(model.features, input_size)
    matrix = js_distance_matrix(maps)
    order = sorted_order(matrix)
    plot_matrix(matrix, js_raw_png, f"JS distance between filter maps (white image){label}")
    plot_matrix(matrix[np.ix_(order, order)], js_sorted_png, f"sorted by hierarchical clustering{label}")
    log.info("blinding: baseline error %.3f, worst single filter %.3f", baseline, errors.max())
    return table


def filter_patch_set(bag_paths, fold: int, n_patches: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A class-balanced, seeded sample of the fold's test bag: cells the network never trained on
    (under the leak-free protocol)."""
    from leukoflow.core.io import load_bags
    from leukoflow.core.splits import BAG_FOLDS

    _, _, test_bag = BAG_FOLDS[fold - 1]
    images, labels, _ = load_bags(bag_paths, [test_bag])
    rng = np.random.default_rng(seed)
    picks = []
    for label in np.unique(labels.numpy()):
        members = np.flatnonzero(labels.numpy() == label)
        picks.append(rng.permutation(members)[: max(1, n_patches // 2)])
    index = torch.from_numpy(np.sort(np.concatenate(picks)))
    return images[index], labels[index]
