"""Config validation: schema errors and missing roots stop the run before any job, naming the key."""

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from leukoflow.config import check_config, enabled_datasets, is_synthetic
from leukoflow.core.errors import ConfigError
from tests.helpers import REPO, run_snakemake

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.mark.parametrize("name", ["demo.yaml", "config.yaml"])
def test_shipped_configs_validate(name):
    config = load(name)
    validate(config, SCHEMA)


def test_defaults_are_filled():
    config = {"datasets": {"allidb2": {"root": None}}}
    validate(config, SCHEMA)
    assert config["datasets"]["allidb2"]["strict"] is True
    assert config["synthetic"]["seed"] == 7
    assert config["compute"]["accelerator"] == "auto"


def test_wrong_type_names_key():
    config = load("demo.yaml")
    config["synthetic"]["allidb2"]["n_all"] = "many"
    with pytest.raises(WorkflowError, match="n_all"):
        validate(config, SCHEMA)


def test_unknown_key_names_key():
    config = load("demo.yaml")
    config["datasets"]["allidb1"]["rooot"] = "/x"
    with pytest.raises(WorkflowError, match="rooot"):
        validate(config, SCHEMA)


def test_unknown_dataset_rejected():
    config = load("demo.yaml")
    config["datasets"]["allidb3"] = {"root": None}
    with pytest.raises(WorkflowError, match="allidb3"):
        validate(config, SCHEMA)


def test_missing_root_names_key(tmp_path):
    config = load("demo.yaml")
    validate(config, SCHEMA)
    config["datasets"]["cnmc"]["root"] = str(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"datasets\.cnmc\.root.*nowhere"):
        check_config(config)


def test_root_that_is_a_file(tmp_path):
    config = load("demo.yaml")
    (tmp_path / "f").write_text("x")
    config["datasets"]["ukm"]["root"] = str(tmp_path / "f")
    with pytest.raises(ConfigError, match=r"datasets\.ukm\.root"):
        check_config(config)


def test_all_disabled_is_an_error():
    config = load("demo.yaml")
    for settings in config["datasets"].values():
        settings["enabled"] = False
    with pytest.raises(ConfigError, match="datasets"):
        check_config(config)


def test_enabled_and_synthetic(tmp_path):
    config = copy.deepcopy(load("demo.yaml"))
    config["datasets"]["cnmc"]["enabled"] = False
    config["datasets"]["ukm"]["root"] = str(tmp_path)
    assert enabled_datasets(config) == ["allidb1", "allidb2", "ukm"]
    assert is_synthetic(config, "allidb1") and not is_synthetic(config, "ukm")


def test_bad_config_stops_snakemake_before_any_job(workdir):
    bad = load("demo.yaml")
    bad["datasets"]["allidb2"]["root"] = str(workdir / "missing_dataset")
    (workdir / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert result.returncode != 0
    assert "datasets.allidb2.root" in result.stderr + result.stdout
    assert not (workdir / "results").exists()
