"""The two slide methods: as published is the improved method with every switch at the paper's value."""

import math

import pytest
import yaml
from snakemake.utils import validate

from leukoflow.allidb1.methods import DEVIATIONS, PAPER_VALUES, deviations_in_use, method_settings, pixel_sizes
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
        "patch_size": 257,
    }


def test_every_switch_has_a_line_and_the_real_config_uses_each():
    assert set(DEVIATIONS) == set(PAPER_VALUES) - {"min_prominence"}  # a parameter of centroid_rule
    used = {key for key, _, _ in deviations_in_use(slides())}
    assert used == set(PAPER_VALUES) - {"min_prominence"}  # 1.0 is every regional maximum, not a deviation


def test_sizes_follow_the_cell_diameter_not_the_image_width():
    settings = method_settings(slides(), "improved")
    small, large = pixel_sizes(settings, 120), pixel_sizes(settings, 135)
    assert small["patch_size"] == 240 and large["patch_size"] == 270
    assert small["min_area"] == round(0.1 * math.pi * 60**2)
    assert large["min_distance"] == pytest.approx(0.3 * 135)


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="unknown slide method"):
        method_settings(slides(), "fancy")
