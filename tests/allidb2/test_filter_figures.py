"""The fast blinding (conv stack once, linear head per filter) equals the hook-based reference."""

import numpy as np
import pytest
import torch

from leukoflow.allidb2.filters import (
    blinding_errors,
    classification_error,
    filter_blinding_errors,
    write_filter_analysis,
)
from leukoflow.core.images import imagenet_normalise
from leukoflow.nets.ghosh import GhoshNet


def patches_and_model():
    """Random patches and an AlexNet-based network whose decision rests on three filters of the
    last conv layer (a linear head on the 256 pooled channels, weighted on the three that vary
    most over these patches), labelled with its own predictions: blinding one of the three flips
    many decisions, blinding any other filter none."""
    torch.manual_seed(3)
    model = GhoshNet(input_size=65, hidden=[], dropout=0.0).eval()
    generator = torch.Generator().manual_seed(0)
    patches = torch.randint(0, 256, (24, 3, 65, 65), dtype=torch.uint8, generator=generator)
    with torch.no_grad():
        pooled = torch.flatten(model.features(imagenet_normalise(patches)), 1)
        heavy = pooled.std(0).topk(3).indices
        weights = torch.zeros(256)
        weights[heavy] = 1.0 / pooled[:, heavy].std(0)
        score = pooled @ weights
        model.classifier[-1].weight.zero_()
        model.classifier[-1].weight[1] = weights
        model.classifier[-1].bias.copy_(torch.tensor([0.0, -float(score.median())]))
        labels = model(imagenet_normalise(patches)).argmax(1)
    return model, patches, labels, heavy


def test_fast_blinding_matches_reference_where_blinding_matters():
    model, patches, labels, heavy = patches_and_model()
    baseline, fast = blinding_errors(model, patches, labels)
    reference = filter_blinding_errors(model, patches, labels)
    assert baseline == pytest.approx(classification_error(model, patches, labels)) == 0.0
    # The reference itself must vary, or equal outputs would prove nothing.
    assert len(np.unique(reference)) >= 2 and (reference[heavy.numpy()] > 0.1).all()
    assert (np.delete(reference, heavy.numpy()) == 0).all()
    np.testing.assert_allclose(fast, reference, atol=1e-9)
    assert fast.shape == (256,)


def sensitive_model():
    return patches_and_model()[0]


def test_filter_analysis_outputs(tmp_path):
    model = sensitive_model()
    patches = torch.randint(0, 256, (6, 3, 65, 65), dtype=torch.uint8)
    table = write_filter_analysis(
        model=model,
        patches=patches,
        labels=[0, 1, 0, 1, 0, 1],
        input_size=65,
        blinding_out=tmp_path / "b.tsv",
        blinding_png=tmp_path / "b.png",
        js_raw_png=tmp_path / "raw.png",
        js_sorted_png=tmp_path / "sorted.png",
    )
    assert len(table) == 256 and (table["n_patches"] == 6).all()
    for name in ("b.png", "raw.png", "sorted.png"):
        assert (tmp_path / name).stat().st_size > 1000
