"""UKM-WBC as published beside ours: the switches, the paper's masked input and five-layer CNN,
the 70/30 hold-out of the U-Net."""

import numpy as np
import pandas as pd
import pytest
import torch

from leukoflow.config import HOLDOUT_FOLD
from leukoflow.nets.five_layer_cnn import FiveLayerCNN
from leukoflow.nets.small_cnn import SmallCNN
from leukoflow.ukm import methods
from leukoflow.ukm.preprocess import held_out_rows
from leukoflow.ukm.segment import component_masks, nucleus_components, roi_crops
from leukoflow.ukm.train import build_classifier, classifier_inputs

OURS = {"classifier_input": "crop", "network": "small_cnn", "input_size": 96}


def test_switches_and_deviations():
    config = {"ours": OURS, "as_published": {}}
    assert methods.switches(config, "as_published") == {
        "classifier_input": "masked",
        "network": "five_layer",
        "input_size": 224,
    }
    assert methods.deviations(config, "as_published") == []
    assert [d[:2] for d in methods.deviations(config, "ours")] == [
        ("classifier_input", "crop"),
        ("network", "small_cnn"),
        ("input_size", "96"),
    ]
    demo = {**config, "as_published": {"input_size": 48}}
    assert [d[:2] for d in methods.deviations(demo, "as_published")] == [("input_size", "48")]
    with pytest.raises(ValueError, match="unknown switches"):
        methods.switches({"ours": {"size": 3}}, "ours")


def two_nuclei_image():
    """One 40x40 image with two nuclei 10 px apart: a crop around either holds part of the other."""
    masks = np.zeros((1, 40, 40), dtype=bool)
    masks[0, 10:20, 8:18] = True  # 100 px, the larger: component 1
    masks[0, 12:19, 22:29] = True  # 49 px: component 2
    rgb = np.full((1, 40, 40, 3), 200, dtype=np.uint8)
    rgb[masks] = (90, 40, 140)
    return masks, rgb


def test_each_crop_keeps_its_own_nucleus_only():
    masks, rgb = two_nuclei_image()
    components, labels = nucleus_components(masks)
    crops, boxes = roi_crops(rgb, components, 24)
    own = component_masks(labels, components["image"].to_numpy(), boxes)
    assert own.shape == (2, 1, 24, 24) and own.dtype == torch.uint8
    assert own[0].sum() == 100 and own[1].sum() == 49  # the other nucleus is in the box but not in the mask
    for m, (x0, y0, x1, y1) in enumerate(boxes):
        np.testing.assert_array_equal(own[m, 0].numpy().astype(bool), labels[0, y0:y1, x0:x1] == m + 1)


def test_masked_input_is_the_segmented_nucleus_resized():
    masks, rgb = two_nuclei_image()
    components, labels = nucleus_components(masks)
    crops, boxes = roi_crops(rgb, components, 24)
    payload = {"images": crops, "masks": component_masks(labels, components["image"].to_numpy(), boxes)}
    masked = classifier_inputs(payload, {"classifier_input": "masked", "input_size": 24})
    whole = classifier_inputs(payload, {"classifier_input": "crop", "input_size": 24})
    assert torch.equal(whole, crops)  # same size: no resampling
    background = payload["masks"].expand_as(crops) == 0
    assert masked[background].eq(0).all() and masked[~background].equal(crops[~background])
    assert whole[background].gt(0).all()  # the crop keeps the cytoplasm, the other nucleus, the rest
    assert tuple(classifier_inputs(payload, {"classifier_input": "masked", "input_size": 48}).shape) == (2, 3, 48, 48)


def test_the_paper_network_and_ours():
    paper = build_classifier({"network": "five_layer", "input_size": 48}, {"dropout": 0.3, "widths": [8]})
    ours = build_classifier({"network": "small_cnn", "input_size": 48}, {"dropout": 0.3, "widths": [8, 16]})
    assert isinstance(paper, FiveLayerCNN) and isinstance(ours, SmallCNN)
    # five layers with weights, the fifth the output: three convolutions, a hidden layer, the output
    weighted = [m for m in paper.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert [type(m).__name__ for m in weighted] == ["Conv2d", "Conv2d", "Conv2d", "Linear", "Linear"]
    assert weighted[-1].out_features == 3
    out = paper(torch.rand(2, 3, 48, 48))
    assert out.shape == (2, 3) and torch.allclose(out.exp().sum(1), torch.ones(2))
    with pytest.raises(ValueError, match="built for 48 px"):
        paper(torch.rand(1, 3, 64, 64))
    rebuilt = FiveLayerCNN(**paper.arch_kwargs)
    rebuilt.load_state_dict(paper.state_dict())


def test_holdout_trains_on_the_classifiers_70_and_is_scored_on_its_30():
    index = pd.DataFrame(
        {"row": range(6), "unet_fold": [1, 2, 1, 2, 1, 2], "classifier_split": ["train"] * 4 + ["test"] * 2}
    )
    assert held_out_rows(index, HOLDOUT_FOLD).tolist() == [False] * 4 + [True] * 2
    assert held_out_rows(index, 1).tolist() == [True, False, True, False, True, False]
