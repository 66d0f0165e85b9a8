"""Parse-time slide ids and the choice of slide models."""

import copy

import pytest
import yaml
from snakemake.utils import validate

from leukoflow.config import allidb1_slide_ids, slide_ids_in, slide_model_folds, synthetic_slide_ids
from leukoflow.core.errors import ConfigError
from leukoflow.data.synthetic import write_allidb1
from tests.helpers import REPO

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_synthetic_ids_match_the_writer(tmp_path):
    data = write_allidb1(tmp_path / "a", n_all=2, n_healthy=3, resolutions=[(600, 450)], layout="split", seed=0)
    assert slide_ids_in(data) == synthetic_slide_ids(2, 3)


def test_real_ids_found_in_any_layout_and_case(tmp_path):
    (tmp_path / "im").mkdir()
    (tmp_path / "im" / "Im001_1.jpg").write_bytes(b"x")
    (tmp_path / "im" / "im002_0.JPG").write_bytes(b"x")
    (tmp_path / "Im003_0.jpeg").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "Im004_1.xyc").write_text("")
    assert slide_ids_in(tmp_path) == ["Im001_1", "Im002_0", "Im003_0"]


def demo_config():
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    validate(config, SCHEMA)
    return config


def test_allidb1_ids_follow_config():
    config = demo_config()
    settings = config["synthetic"]["allidb1"]
    ids = allidb1_slide_ids(config)
    assert len(ids) == settings["n_all"] + settings["n_healthy"]
    assert ids[0].endswith("_1") and ids[-1].endswith("_0")


def test_slide_models_default_to_all_trained_folds():
    config = demo_config()
    config["allidb1"]["slides"]["heatmap_fold"] = None
    folds, heatmap_fold = slide_model_folds(config)
    assert folds == config["allidb2"]["cnn"]["folds"] and heatmap_fold == folds[0]
    config["allidb1"]["slides"]["heatmap_fold"] = folds[-1]
    assert slide_model_folds(config) == (folds, folds[-1])


@pytest.mark.parametrize(
    "change, key",
    [
        ({"model_folds": [7]}, "allidb1.slides.model_folds"),
        ({"heatmap_fold": 9}, "allidb1.slides.heatmap_fold"),
        ({"model_protocol": "paper"}, "allidb1.slides.model_protocol"),
    ],
)
def test_untrained_slide_models_are_config_errors(change, key):
    config = copy.deepcopy(demo_config())
    config["allidb2"]["cnn"]["protocols"] = ["leak_free"]
    config["allidb1"]["slides"].update(change)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        slide_model_folds(config)
