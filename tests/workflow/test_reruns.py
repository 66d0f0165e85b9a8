"""Change one setting, rerun only what it touches: dry runs on a copy of the finished tiny run."""

import re
import shutil

import pytest
import yaml

from tests.helpers import REPO, run_snakemake

pytestmark = pytest.mark.slow


def planned(workdir, config: dict) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run would execute with `config`."""
    (workdir / "changed.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(workdir, "results/report/index.html", "-n", "--cores", "2", "--configfile", "changed.yaml")
    jobs, rule = set(), None
    for line in result.stdout.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if match:
            rule = match.group(1)
            jobs.add((rule, ""))
        elif rule and line.strip().startswith("wildcards:"):
            jobs.discard((rule, ""))
            jobs.add((rule, line.strip()[len("wildcards:") :].strip()))
    return jobs


@pytest.fixture(scope="module")
def copy(tiny_run, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("reruns") / "run"
    shutil.copytree(tiny_run.workdir, workdir, symlinks=True)
    return workdir, yaml.safe_load((workdir / tiny_run.config_name).read_text())


def rules(jobs):
    return {rule for rule, _ in jobs}


def test_the_same_config_in_another_key_order_plans_nothing(copy):
    workdir, config = copy
    reordered = yaml.safe_load(yaml.safe_dump(config, sort_keys=True))  # every mapping sorted
    reordered = dict(reversed(list(reordered.items())))
    assert planned(workdir, reordered) == set()


def test_a_table_ii_setting_reruns_table_ii_and_what_reads_it(copy):
    workdir, config = copy
    changed = {**config, "allidb1": {**config["allidb1"], "slides": {**config["allidb1"]["slides"], "k": 2}}}
    assert rules(planned(workdir, changed)) <= {"allidb1_table2", "allidb1_panels", "report"}


def test_threads_retrain_nothing(copy):
    workdir, config = copy
    changed = {**config, "compute": {**config["compute"], "cpu_threads": 2}}
    assert not {rule for rule in rules(planned(workdir, changed)) if "train" in rule or rule == "allidb1_cnn50"}


def test_a_new_fold_trains_that_fold_only(copy):
    workdir, config = copy
    cnn = {**config["allidb2"]["cnn"], "folds": [1, 2]}
    jobs = planned(workdir, {**config, "allidb2": {**config["allidb2"], "cnn": cnn}})
    trained = {wildcards for rule, wildcards in jobs if rule == "allidb2_train"}
    assert trained and all("fold=2" in w for w in trained), trained
    assert not any("fold=1" in w for rule, w in jobs if rule in ("allidb1_heatmap", "allidb2_filters"))


def test_ukm_evaluation_settings_retrain_no_cross_validation_unet(copy):
    # `holdout` and the loss comparison decide which U-Nets exist; the trained ones stay.
    workdir, config = copy
    unet = {**config["ukm"]["unet"], "holdout": not config["ukm"]["unet"].get("holdout", True), "compare_loss": "none"}
    jobs = planned(workdir, {**config, "ukm": {**config["ukm"], "unet": unet}})
    trained = {w for rule, w in jobs if rule == "ukm_train_unet"}
    assert not any("fold=1" in w or "fold=2" in w for w in trained), trained


def test_include_order_does_not_matter(tmp_path):
    """Shared paths live in common.smk: the Snakefile parses with the dataset includes reversed."""
    snakefile = (REPO / "workflow" / "Snakefile").read_text()
    lines = snakefile.splitlines(keepends=True)
    dataset = re.compile(r'^include: "rules/(?:data|allidb2|allidb1|cnmc|ukm|screen)\.smk"$')
    at = [i for i, line in enumerate(lines) if dataset.match(line.strip())]
    assert len(at) == 6, "the Snakefile should include the data rules, four datasets and screening"
    for i, line in zip(at, [lines[i] for i in reversed(at)]):
        lines[i] = line
    reversed_text = "".join(lines)
    workflow = tmp_path / "workflow"
    shutil.copytree(REPO / "workflow", workflow)
    (workflow / "Snakefile").write_text(reversed_text)
    assert reversed_text != snakefile
    shutil.copytree(REPO / "config", tmp_path / "config")
    import subprocess
    import sys
    from pathlib import Path

    snakemake = Path(sys.executable).with_name("snakemake")
    result = subprocess.run(
        [str(snakemake), "--snakefile", str(workflow / "Snakefile"), "-n", "--cores", "1", "--configfile", "config/demo.yaml", "--workflow-profile", str(REPO / "profiles" / "default")],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
