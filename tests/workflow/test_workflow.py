"""End-to-end: the workflow runs in a temporary directory on tiny synthetic data, and plans real layouts."""

import json
import re

import pandas as pd
import pytest
import yaml

from leukoflow.data.readers import MANIFEST_COLUMNS
from leukoflow.data.synthetic import write_dataset
from tests.helpers import REPO, run_snakemake

TINY = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())


def write_config(workdir, config, name="run.yaml"):
    (workdir / name).write_text(yaml.safe_dump(config))
    return name


def epochs_logged(log: str) -> list[int]:
    """The epochs of the per-epoch lines a training job logs (leukoflow.training.systems)."""
    return [int(n) for n in re.findall(r"^\S+ \S+ INFO leukoflow\.training\.systems: epoch (\d+): ", log, re.M)]


@pytest.mark.slow
def test_data_slice_end_to_end(tiny_run):
    """The data stage of the session's tiny run (tests/workflow/conftest.py): manifests, summary."""
    workdir, config, results = tiny_run.workdir, tiny_run.config_name, tiny_run.results
    for dataset in ("allidb1", "allidb2", "cnmc", "ukm"):
        manifest = pd.read_csv(results / "manifests" / f"{dataset}.tsv", sep="\t")
        assert list(manifest.columns) == list(MANIFEST_COLUMNS)
        assert len(manifest) > 0
        source = json.loads((results / "manifests" / f"{dataset}.source.json").read_text())
        assert source["source"] == "synthetic" and source["n_images"] == len(manifest)
        assert (results / "summary" / f"contact_{dataset}.png").stat().st_size > 1000
        assert (results / "logs" / "data_manifest" / f"{dataset}.log").exists()
        assert (results / "benchmarks" / "data_manifest" / f"{dataset}.tsv").exists()
    allidb2 = pd.read_csv(results / "manifests" / "allidb2.tsv", sep="\t")
    assert len(allidb2) == TINY["synthetic"]["allidb2"]["n_all"] + TINY["synthetic"]["allidb2"]["n_healthy"]
    counts = pd.read_csv(results / "summary" / "counts.tsv", sep="\t", dtype={"split": str})
    cnmc = counts[counts["dataset"] == "cnmc"]
    assert set(cnmc["split"]) >= {"prelim_test"}
    page = (results / "summary" / "index.html").read_text()
    assert "synthetic demo data, not a reproduction" in page
    # a second run has nothing to do
    again = run_snakemake(workdir, "results/summary/index.html", "-n", "--cores", "1", "--configfile", config)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_real_layouts_plan_manifests_for_all_four(workdir):
    """config/config.yaml pointed at folders in the real layouts plans four manifests, no synthesis."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for dataset in config["datasets"]:
        params = TINY["synthetic"][dataset]
        out = workdir / "real" / dataset
        write_dataset(dataset, out, params, seed=1)
        config["datasets"][dataset]["root"] = str(out / "data")
    name = write_config(workdir, config)
    result = run_snakemake(workdir, "-n", "--cores", "2", "--configfile", name)
    plan = result.stdout + result.stderr
    assert "manifest" in plan
    jobs = {
        line.split()[0]: int(line.split()[1])
        for line in plan.splitlines()
        if line.strip() and line.split()[-1].isdigit() and len(line.split()) == 2
    }
    assert jobs.get("data_manifest") == 4
    assert "data_synthesize" not in jobs
    assert jobs.get("allidb2_train") == 20  # 2 protocols x 10 folds of Table I


def test_bad_file_stops_with_its_name(workdir):
    """A truncated image in a real root stops the manifest job with one line naming the file."""
    out = workdir / "real" / "allidb2"
    write_dataset("allidb2", out, TINY["synthetic"]["allidb2"], seed=1)
    victim = sorted((out / "data").rglob("*.tif"))[0]
    victim.write_bytes(victim.read_bytes()[:200])
    config = dict(TINY)
    config["datasets"] = {name: {"enabled": name == "allidb2", "root": None} for name in TINY["datasets"]}
    config["datasets"]["allidb2"]["root"] = str(out / "data")
    name = write_config(workdir, config)
    result = run_snakemake(workdir, "results/manifests/allidb2.tsv", "--cores", "1", "--configfile", name, check=False)
    assert result.returncode != 0
    log = (workdir / "results" / "logs" / "data_manifest" / "allidb2.log").read_text()
    assert victim.name in log and "truncated" in log
    assert not (workdir / "results" / "manifests" / "allidb2.tsv").exists()
    # non-strict: the file is skipped and listed
    config["datasets"]["allidb2"]["strict"] = False
    name = write_config(workdir, config, "lenient.yaml")
    run_snakemake(workdir, "results/manifests/allidb2.tsv", "--cores", "1", "--configfile", name)
    rejected = pd.read_csv(workdir / "results" / "manifests" / "allidb2.rejected.tsv", sep="\t")
    assert rejected["path"].str.endswith(victim.name).any()


@pytest.mark.slow
def test_killed_training_job_resumes_from_its_last_epoch(workdir):
    """Kill snakemake while a fold trains; the rerun continues from the last finished epoch."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from leukoflow.training.export import checkpoint_history, completed_epochs

    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["allidb2"]["cnn"]["epochs"] = 400
    name = write_config(workdir, config)
    target = "results/allidb2/leak_free/fold1/model.pt"
    run_snakemake(workdir, "results/allidb2/leak_free/bags/index.tsv", "--cores", "1", "--configfile", name)
    last = workdir / "results" / "state" / "allidb2" / "leak_free" / "fold1" / "last.ckpt"
    cmd = [
        str(Path(sys.executable).with_name("snakemake")),
        "--snakefile",
        str(REPO / "workflow" / "Snakefile"),
        target,
        "--cores",
        "1",
        "--configfile",
        name,
    ]
    job = subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (last.exists() and completed_epochs(last) >= 3):
        time.sleep(0.2)
    os.killpg(job.pid, signal.SIGKILL)  # the whole job: snakemake and the training script
    job.wait()
    done = completed_epochs(last)
    assert 3 <= done < 400
    assert not (workdir / target).exists()
    # The killed run's history, as its checkpoint holds it, before anything can touch it.
    killed = pd.DataFrame(checkpoint_history(last))
    assert killed["epoch"].tolist() == list(range(done))
    config["allidb2"]["cnn"]["epochs"] = done + 2
    name = write_config(workdir, config, "resume.yaml")
    # A SIGKILL (a lost node, a power cut) leaves Snakemake's lock behind; --unlock is the
    # documented first step, then the same command resumes.
    run_snakemake(workdir, "--unlock", "--configfile", name)
    run_snakemake(workdir, target, "--cores", "1", "--configfile", name)
    log = (workdir / "results" / "logs" / "allidb2_train" / "leak_free_fold1.log").read_text()
    assert f"'resumed_from_epoch': {done}" in log
    history = pd.read_csv(workdir / "results" / "allidb2" / "leak_free" / "fold1" / "history.csv")
    assert history["epoch"].tolist() == list(range(done + 2))
    # The first epochs are the killed run's own ...
    pd.testing.assert_frame_equal(
        history.iloc[:done][list(killed.columns)].reset_index(drop=True),
        killed,
        check_dtype=False,
        check_exact=False,
        rtol=1e-6,
    )
    # ... and were not trained again: the rerun's log (one plain line per epoch) has only the new ones.
    assert "\r" not in log
    assert epochs_logged(log) == [done, done + 1]


@pytest.mark.slow
def test_training_logs_hold_one_plain_line_per_epoch(tiny_run):
    """No progress-bar fragments in any job's log; a training job logs one line per epoch, in order."""
    fragments = [p.name for p in (tiny_run.results / "logs").rglob("*.log") if "\r" in p.read_text()]
    assert fragments == []
    logs = sorted((tiny_run.results / "logs" / "allidb2_train").glob("*.log"))
    assert len(logs) == len(TINY["allidb2"]["cnn"]["protocols"]) * len(TINY["allidb2"]["cnn"]["folds"])
    for path in logs:
        log = path.read_text()
        assert "\r" not in log, path
        assert epochs_logged(log) == list(range(TINY["allidb2"]["cnn"]["epochs"])), path
