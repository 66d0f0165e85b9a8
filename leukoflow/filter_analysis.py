"""Filter analysis of the trained network (Ghosh et al. 2017, IV-B and IV-C), as figures.

Blinding: one filter of the last conv layer is zeroed at a time and the classification error over a
patch set is recorded. In AlexNet's layout the last conv is followed only by ReLU and max-pooling,
both of which keep a zeroed channel at zero, so blinding filter f equals zeroing channel f of the
pooled features: the conv stack runs ONCE per patch and only the linear head runs per filter
(`blinding_errors`). `leukoflow.filters.filter_blinding_errors` (hook on the conv layer, full forward
passes) is the reference it is tested against.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

from leukoflow.filters import js_distance_matrix, sorted_order, white_image_maps
from leukoflow.heatmap import imagenet_normalise
from leukoflow.io import atomic_path, write_table_atomic

log = logging.getLogger(__name__)


@torch.inference_mode()
def blinding_errors(model: nn.Module, patches: torch.Tensor, labels, chunk: int = 64) -> tuple[float, np.ndarray]:
    """(baseline error, error with each last-layer filter blinded) for uint8 patches (N,3,S,S)."""
    model.eval()
    labels = torch.as_tensor(np.asarray(labels))
    pooled = torch.cat([model.features(imagenet_normalise(patches[i : i + chunk])) for i in range(0, len(patches), chunk)])
    n_filters = pooled.shape[1]

    def error(features: torch.Tensor) -> float:
        predictions = model.classifier(torch.flatten(features, 1)).argmax(1)
        return float((predictions != labels).float().mean())

    baseline = error(pooled)
    errors = np.empty(n_filters)
    for f in range(n_filters):  # one cheap linear head pass per filter
        blinded = pooled.clone()
        blinded[:, f] = 0
        errors[f] = error(blinded)
    return baseline, errors


def plot_blinding(errors: np.ndarray, baseline: float, out_png: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3))
    ax.bar(np.arange(len(errors)), errors, width=1.0, color="#5b6bb5")
    ax.axhline(baseline, color="crimson", lw=1, label=f"no filter blinded ({100 * baseline:.1f}%)")
    ax.set(xlabel="blinded filter of the last conv layer", ylabel="classification error", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def plot_matrix(matrix: np.ndarray, out_png: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.4))
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="Jensen-Shannon distance")
    ax.set(xlabel="filter", ylabel="filter", title=title)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def write_filter_analysis(
    *, model: nn.Module, patches: torch.Tensor, labels, input_size: int, blinding_out: str, blinding_png: str,
    js_raw_png: str, js_sorted_png: str, label: str = "",
) -> pd.DataFrame:
    baseline, errors = blinding_errors(model, patches, labels)
    table = pd.DataFrame({"filter": np.arange(len(errors)), "error": errors, "baseline_error": baseline,
                          "error_increase": errors - baseline, "n_patches": len(patches)})
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
    from leukoflow.augmented_bags import load_bags
    from leukoflow.bags import TABLE_I_FOLDS

    _, _, test_bag = TABLE_I_FOLDS[fold - 1]
    images, labels, _ = load_bags(bag_paths, [test_bag])
    rng = np.random.default_rng(seed)
    picks = []
    for label in np.unique(labels.numpy()):
        members = np.flatnonzero(labels.numpy() == label)
        picks.append(rng.permutation(members)[: max(1, n_patches // 2)])
    index = torch.from_numpy(np.sort(np.concatenate(picks)))
    return images[index], labels[index]
