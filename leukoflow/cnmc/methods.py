"""The two C-NMC methods that run side by side: Liu & Long (2019) as published, and ours.

Each deviation of ours from the paper is one switch, set in `cnmc.ours` of the config and listed
with its reason in `DEVIATIONS` (the report and docs/cnmc.md print them). `as_published` runs
every switch at its paper value (`PAPER_VALUES`); `cnmc.as_published` may replace one where the
paper's cannot run (the demo: no Inception-ResNet-v2 ImageNet weights offline), and every such
replacement is listed beside that method's table as a deviation too. Everything outside the
switches (split, subsets, augmentation, schedule, class weights, the most-confident ensemble) is
shared by both methods: where it follows the paper, it does so in both.
"""

from __future__ import annotations

from collections.abc import Mapping

from leukoflow.core.methods import departures, method_switches

PAPER_VALUES = {
    "threshold": "otsu",
    "backbone": "inception_resnet_v2",
}
"""The switches at the paper's values: one Otsu threshold for the crop, Inception-ResNet-v2."""

DEVIATIONS = {
    "threshold": "the crop's foreground is the lower threshold of a three-class Otsu (black background against "
    "the whole cell), not the paper's single Otsu threshold, which falls between nucleus and cytoplasm on our "
    "synthetic frames and can cut off a nucleus at the cell's edge (evidence from synthetic cells only: no real "
    "C-NMC frame was available to check).",
    "backbone": "the stage-1 and combined networks are built on EfficientNet-Lite0, whose ImageNet weights install "
    "offline with the package; the paper's Inception-ResNet-v2 needs its ImageNet weight file "
    "(`pretrained: <path>`).",
}

STEP_KEYS = {"crop": ("threshold",), "backbones": ("backbone",)}
"""Which switches each rule reads (its params hold the step's settings with these merged in)."""


def switches(cnmc: Mapping, method: str) -> dict:
    """The switch values one method runs with."""
    return method_switches(cnmc, method, PAPER_VALUES, "cnmc")


def step_settings(cnmc: Mapping, method: str, step: str) -> dict:
    """`cnmc[step]` with the method's switches of that step merged in, keys sorted."""
    merged = {**cnmc[step], **{key: switches(cnmc, method)[key] for key in STEP_KEYS.get(step, ())}}
    return {key: merged[key] for key in sorted(merged)}


def rule_params(cnmc: Mapping, step: str):
    """A rule's params function: `step_settings` for the job's `{method}` wildcard."""
    return lambda wildcards: step_settings(cnmc, wildcards.method, step)


def deviations(cnmc: Mapping, method: str) -> list[tuple[str, str, str]]:
    """(switch, value, why) for every switch the method runs away from the paper's value."""
    return departures(switches(cnmc, method), PAPER_VALUES, DEVIATIONS)
