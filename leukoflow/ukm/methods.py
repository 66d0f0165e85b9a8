"""The two UKM-WBC classifiers that run side by side: the paper's as published, and ours.

As for C-NMC (`leukoflow/cnmc/methods.py`): each deviation of ours is one switch of `ukm.ours`,
listed with its reason in `DEVIATIONS`; `as_published` runs the paper's values (`PAPER_VALUES`),
and `ukm.as_published` may replace one where the paper's cannot run in the time at hand (the demo:
a smaller input), which the report lists as a deviation too. The segmentation is shared: every
image is segmented by its cross-validation fold's U-Net for both classifiers, and the U-Net is
scored both ways, on the paper's 70/30 hold-out and by our cross-validation (`ukm.unet.holdout`).
"""

from __future__ import annotations

from collections.abc import Mapping

from leukoflow.core.methods import departures, method_switches

PAPER_VALUES = {
    "classifier_input": "masked",
    "network": "five_layer",
    "input_size": 224,
}
"""The classifier as published: the segmented image (the ROI with everything but its nucleus
masked out), resized to 224 px, into the paper's five-layer CNN (`nets/five_layer_cnn.py`)."""

DEVIATIONS = {
    "classifier_input": "the classifier sees the whole ROI crop (nucleus, cytoplasm and surroundings), not the "
    "segmented nucleus alone: cytoplasm granules tell promyelocytes from neutrophils, and a mask error "
    "then does not erase the cell.",
    "network": "a small VGG-style network with batch norm and global average pooling (`nets/small_cnn.py`), "
    "not the paper's five-layer network: it trains from random weights in seconds at any input size.",
    "input_size": "crops are resized to this side, not to the paper's 224 px (a crop is 128 px at 256 px, so "
    "224 px only interpolates, at three times the compute).",
}


def switches(ukm: Mapping, method: str) -> dict:
    """The switch values one method's classifier runs with (the schema checks their values)."""
    return method_switches(ukm, method, PAPER_VALUES, "ukm")


def deviations(ukm: Mapping, method: str) -> list[tuple[str, str, str]]:
    """(switch, value, why) for every switch the method runs away from the paper's value."""
    return departures(switches(ukm, method), PAPER_VALUES, DEVIATIONS)


def rule_params(ukm: Mapping):
    """A rule's params function: the switches of the job's `{method}` wildcard."""
    return lambda wildcards: switches(ukm, wildcards.method)
