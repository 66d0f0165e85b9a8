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
    """A shipped config as the workflow sees it: validated, the schema's defaults filled in."""
    config = yaml.safe_load((REPO / "config" / name).read_text())
    validate(config, SCHEMA)
    return config


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


def test_a_crop_too_small_for_the_papers_network_stops_before_any_job():
    from leukoflow.config import check_cnmc

    ours = {"threshold": "background", "backbone": "efficientnet_lite0"}
    config = {"cnmc": {"methods": ["as_published", "ours"], "ours": ours, "as_published": {}, "crop": {"size": 64}}}
    with pytest.raises(ConfigError, match="cnmc.crop.size: 64 px is too small for inception_resnet_v2"):
        check_cnmc(config)
    check_cnmc({"cnmc": {**config["cnmc"], "as_published": {"backbone": "efficientnet_lite0"}}})  # the demo's
    check_cnmc({"cnmc": {**config["cnmc"], "crop": {"size": 299}}})


def test_renamed_sections_say_where_they_went():
    from leukoflow.config import check_renamed_keys

    with pytest.raises(ConfigError, match="allidb2_cnn: this section moved to `allidb2.cnn`"):
        check_renamed_keys({"allidb2_cnn": {}, "datasets": {}})
    with pytest.raises(ConfigError, match="cnmc.crop.threshold: this key moved to cnmc.ours.threshold"):
        check_renamed_keys({"cnmc": {"crop": {"threshold": "otsu", "size": 299}}})
    with pytest.raises(ConfigError, match="cnmc.backbones.backbone: this key moved to cnmc.ours.backbone"):
        check_renamed_keys({"cnmc": {"backbones": {"backbone": "alexnet"}}})
    check_renamed_keys({"cnmc": {"crop": {"size": 299}, "ours": {"threshold": "otsu"}}})


def planned_jobs(result) -> dict[str, int]:
    plan = result.stdout + result.stderr
    return {
        line.split()[0]: int(line.split()[1])
        for line in plan.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }


def test_a_users_config_never_inherits_the_demo(workdir):
    """The demo comes from profiles/default; an explicit --configfile replaces it, so a config that
    only sets the ALL-IDB2 root gets the paper's settings from the schema, not the demo's."""
    from leukoflow.data.synthetic import write_dataset

    data = write_dataset("allidb2", workdir / "real" / "allidb2", {"n_all": 2, "n_healthy": 2}, seed=1)
    config = {
        "datasets": {
            "allidb2": {"root": str(data)},
            "allidb1": {"enabled": False},
            "cnmc": {"enabled": False},
            "ukm": {"enabled": False},
        }
    }
    (workdir / "mine.yaml").write_text(yaml.safe_dump(config))
    mine = planned_jobs(run_snakemake(workdir, "-n", "--cores", "1", "--configfile", "mine.yaml"))
    # Schema defaults: the paper's ten folds of Table I, leak-free protocol only, no synthesis.
    assert mine.get("allidb2_train") == 10 and "data_synthesize" not in mine
    demo = planned_jobs(run_snakemake(workdir, "-n", "--cores", "1"))
    assert demo.get("allidb2_train") == 2 * len(load("demo.yaml")["allidb2"]["cnn"]["folds"])
    assert demo.get("data_synthesize") == len(enabled_datasets(load("demo.yaml")))
