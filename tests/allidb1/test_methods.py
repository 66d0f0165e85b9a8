"""The two slide methods: as published is the improved method with every switch at the paper's value."""

import math

import pytest
import yaml
from snakemake.utils import validate

from leukoflow.allidb1.methods import (
    CNN_KEYS,
    DEVIATIONS,
    PAPER_VALUES,
    STEP_KEYS,
    method_settings,
    patch_side,
    pixel_sizes,
    step_settings,
)
from tests.helpers import REPO

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def slides(name="config.yaml"):
    config = yaml.safe_load((REPO / "config" / name).read_text())
    validate(config, SCHEMA)
    return config["allidb1"]["slides"]


def test_as_published_turns_every_improvement_off():
    settings = method_settings(slides(), "as_published")
    assert {key: settings[key] for key in PAPER_VALUES} == PAPER_VALUES
    assert settings["centroid_rule"] == "literal_3x3" and settings["centroid_cost"] == "axis_sum"
    assert not settings["fold_ensemble"] and settings["patch_cells"] is None
    sizes = pixel_sizes(settings, diameter=130)
    assert sizes == {
        "opening_radius": 0,
        "closing_radius": 0,
        "max_hole_area": 0,
        "min_area": 0,
        "min_distance": 0,
    }
    assert patch_side(settings, 130) == 257


def test_every_switch_has_a_line_and_the_real_config_uses_each():
    assert set(DEVIATIONS) == set(PAPER_VALUES) - {"min_prominence"}  # a parameter of centroid_rule
    improved = method_settings(slides(), "improved")
    used = {key for key in DEVIATIONS if improved[key] != PAPER_VALUES[key]}
    assert used == set(PAPER_VALUES) - {"min_prominence"}  # 1.0 is every regional maximum, not a deviation


def test_sizes_follow_the_cell_diameter_not_the_image_width():
    settings = method_settings(slides(), "improved")
    small, large = pixel_sizes(settings, 120), pixel_sizes(settings, 135)
    assert patch_side(settings, 120) == 240 and patch_side(settings, 135) == 270
    assert small["min_area"] == round(0.1 * math.pi * 60**2)
    assert large["min_distance"] == pytest.approx(0.3 * 135)


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="unknown slide method"):
        method_settings(slides(), "fancy")


@pytest.mark.parametrize("method", ["as_published", "improved"])
def test_each_step_runs_on_the_keys_its_rule_passes(method):
    """The slide rules pass only STEP_KEYS to their scripts; each step must need nothing else."""
    import numpy as np

    from leukoflow.allidb1.stages import segment_slide, slide_scale

    config = slides("demo.yaml")
    cnn = {"frame": 257, "input_size": 97, "hidden": [8]}
    heat = step_settings(config, method, "heatmap")
    assert slide_scale(heat, {key: cnn[key] for key in CNN_KEYS["heatmap"]}, 120.0) > 0
    rgb = np.full((120, 160, 3), 200, np.uint8)
    rgb[40:80, 60:100] = (80, 25, 120)
    result = segment_slide(
        rgb,
        np.linspace(0, 1, 120 * 160, dtype=np.float32).reshape(120, 160),
        step_settings(config, method, "segment"),
        40.0,
    )
    assert result["mask"].shape == (120, 160)
    assert patch_side(step_settings(config, method, "classify"), 40.0) > 0
    assert set(STEP_KEYS["table2"]) <= set(method_settings(config, method))
