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
from leukoflow.nets.alexnet import AlexNetClassifier


def sensitive_model():
    torch.manual_seed(3)
    model = AlexNetClassifier(input_size=65, hidden=[8], dropout=0.0)
    with torch.no_grad():  # a head that leans hard on a few channels, so blinding moves the error
        model.classifier[-1].weight.mul_(50)
    return model.eval()


def test_fast_blinding_matches_reference():
    model = sensitive_model()
    generator = torch.Generator().manual_seed(0)
    patches = torch.randint(0, 256, (24, 3, 65, 65), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 2, (24,), generator=generator)
    baseline, fast = blinding_errors(model, patches, labels)
    reference = filter_blinding_errors(model, patches, labels)
    assert baseline == pytest.approx(classification_error(model, patches, labels))
    np.testing.assert_allclose(fast, reference, atol=1e-9)
    assert fast.shape == (256,)


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
