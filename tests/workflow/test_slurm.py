"""profiles/slurm: plans the whole workflow, sizes every GPU rule, and runs the tiny workflow on a
real one-node SLURM (tests/workflow/slurm/cluster.sh) with the same results as a local run.

The SLURM test needs Debian's slurm-wlm and munge, which tests/system-packages.sh installs before
pytest starts (`make test` runs it; root, apt-get). It fails, not skips, when they are missing or
the cluster does not start; LEUKOFLOW_SKIP_SLURM=1 skips it on machines that cannot run it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from leukoflow.runtime import gpu as cluster
from tests.helpers import REPO, run_snakemake

PROFILE = REPO / "profiles" / "slurm"
CLUSTER_SH = REPO / "tests" / "workflow" / "slurm" / "cluster.sh"
# What the one-node cluster needs (slurm-wlm and munge, installed by tests/system-packages.sh).
SLURM_TOOLS = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged", "munge", "unmunge")
TINY = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
SLURM_PROFILE = yaml.safe_load((PROFILE / "config.yaml").read_text())
# The test cluster has no accounting database (no sacct) and no accounts; short first poll.
SLURM_FLAGS = (
    "--profile",
    str(PROFILE),
    "--slurm-status-command",
    "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--retries",
    "0",  # a failing job fails the test at once instead of three times over
)


def tiny_targets() -> list[str]:
    """The data stage and Table I: every dataset's manifest, the summary, augmentation and one
    training fold per protocol (the GPU rules augment and train)."""
    results = TINY["results"]
    targets = [f"{results}/manifests/{dataset}.tsv" for dataset in TINY["datasets"]]
    targets.append(f"{results}/summary/index.html")
    targets += [f"{results}/tables/table1_{p}.tsv" for p in TINY["allidb2"]["cnn"]["protocols"]]
    return targets


# ---------------------------------------------------------------------------------------------
# Reading Snakemake's plan and SLURM's records


def planned_jobs(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job in a dry run's output."""
    jobs = []
    rule = None
    for line in output.splitlines():
        started = re.match(r"^(?:local)?rule (\w+):$", line.strip())
        if started:
            rule = started.group(1)
            continue
        if rule and line.strip().startswith("resources:"):
            pairs = line.strip()[len("resources:") :].split(", ")
            jobs.append((rule, dict(pair.strip().split("=", 1) for pair in pairs)))
            rule = None
    return jobs


def gpu_rules_of(plan: list[tuple[str, dict[str, str]]]) -> set[str]:
    return {rule for rule, res in plan if int(res.get("gpu", 0)) > 0}


def profile_value(expression, attempt: int = 1) -> int:
    """A profile resource (a number, or an expression of `attempt`) as submitted on that attempt."""
    return int(eval(str(expression), {"__builtins__": {}}, {"attempt": attempt}))


def default_resource(name: str) -> str:
    entry = next(e for e in SLURM_PROFILE["default-resources"] if e.startswith(f"{name}="))
    return entry.split("=", 1)[1]


def write_config(workdir: Path, config: dict, name: str = "run.yaml") -> str:
    (workdir / name).write_text(yaml.safe_dump(config))
    return name


def scontrol_job(job_id: str) -> dict[str, str]:
    """`scontrol show job` as KEY -> VALUE (finished jobs stay visible for MinJobAge)."""
    text = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", text))


@dataclass
class SlurmJob:
    job_id: str
    rule: str
    log: Path
    record: dict[str, str]

    @property
    def gpu_request(self) -> str:
        return self.record.get("TresPerJob", "")

    def stamp(self, key: str) -> datetime:
        return datetime.fromisoformat(self.record[key])


def slurm_jobs(log_dir: Path) -> list[SlurmJob]:
    """Every job the executor submitted, from its log folder (rule_RULE/[WILDCARDS/]JOBID.log)."""
    jobs = []
    for log in sorted(log_dir.rglob("*.log")):
        rule = log.relative_to(log_dir).parts[0].removeprefix("rule_")
        jobs.append(SlurmJob(log.stem, rule, log, scontrol_job(log.stem)))
    return jobs


# ---------------------------------------------------------------------------------------------
# Fast: the profile plans the demo and sizes every GPU rule; lint stays clean


def test_slurm_profile_plans_demo_and_sizes_every_gpu_rule(workdir):
    result = run_snakemake(workdir, "-n", "--profile", str(PROFILE), "--slurm-no-account")
    plan = planned_jobs(result.stdout + result.stderr)
    assert len(plan) > 10, result.stdout[-2000:]
    gpu_rules = gpu_rules_of(plan)
    assert {"allidb2_augment", "allidb2_train"} <= gpu_rules
    sized = SLURM_PROFILE["set-resources"]
    for rule, res in plan:
        if rule == "all":
            continue
        if rule in gpu_rules:
            # A GPU rule the profile does not size would get the 4 GB default: fail instead.
            assert rule in sized, f"GPU rule {rule} has no entry in profiles/slurm set-resources"
            assert int(res["mem_mb"]) == profile_value(sized[rule]["mem_mb"])
            assert int(res["runtime"]) == profile_value(sized[rule]["runtime"])
            assert int(res["cpus_per_gpu"]) == sized[rule]["cpus_per_gpu"]
            assert "gpu" not in sized[rule], "the rule declares its GPU; the profile only sizes it"
        elif rule not in sized:
            assert int(res["mem_mb"]) == profile_value(default_resource("mem_mb"))
            assert int(res["runtime"]) == profile_value(default_resource("runtime"))
    assert (
        sum(rule == "allidb2_train" for rule, _ in plan)
        == len(yaml.safe_load((REPO / "config" / "demo.yaml").read_text())["allidb2"]["cnn"]["folds"]) * 2
    )


def test_cpu_only_config_submits_no_gpu_request(workdir):
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["compute"]["accelerator"] = "cpu"
    name = write_config(workdir, config)
    result = run_snakemake(workdir, "-n", "--profile", str(PROFILE), "--slurm-no-account", "--configfile", name)
    plan = planned_jobs(result.stdout + result.stderr)
    assert any(rule == "allidb2_train" for rule, _ in plan)
    assert gpu_rules_of(plan) == set()


def test_profile_retry_grows_memory_and_time():
    train = SLURM_PROFILE["set-resources"]["allidb2_train"]
    assert profile_value(train["mem_mb"], attempt=2) > profile_value(train["mem_mb"], attempt=1)
    assert profile_value(train["runtime"], attempt=2) > profile_value(train["runtime"], attempt=1)
    assert SLURM_PROFILE["retries"] >= 1


def test_slurm_extra_never_carries_what_the_plugin_rejects():
    forbidden = re.compile(r"--(gres|gpus|mem|time|partition)\b|(^|\s)-[tp](\s|$)")
    entries = [*SLURM_PROFILE.get("default-resources", [])]
    entries += [f"{k}={v}" for res in SLURM_PROFILE["set-resources"].values() for k, v in res.items()]
    for entry in entries:
        if entry.startswith("slurm_extra"):
            assert not forbidden.search(entry), entry


def test_lint_clean_with_slurm_profile(workdir):
    result = run_snakemake(workdir, "--lint", "--profile", str(PROFILE), "--slurm-no-account", check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# ---------------------------------------------------------------------------------------------
# leukoflow.runtime.gpu: the allocation line, and one GPU per local job


def test_allocation_line_names_slurm_gpu_or_says_local():
    line = cluster.allocation_line(
        {"SLURM_JOB_ID": "7", "SLURM_JOB_GPUS": "1", "CUDA_VISIBLE_DEVICES": "1", "HOME": "/x"}
    )
    assert line == "allocation: SLURM_JOB_ID=7 SLURM_JOB_GPUS=1 CUDA_VISIBLE_DEVICES=1"
    assert cluster.allocation_line({"HOME": "/x"}) == "allocation: local, all visible devices"


def test_claim_gpu_gives_each_local_job_its_own_gpu(tmp_path):
    envs = [{"CUDA_VISIBLE_DEVICES": "2,5"} for _ in range(3)]
    held_before = len(cluster._HELD_CLAIMS)
    try:
        assert cluster.claim_gpu(1, envs[0], lock_dir=str(tmp_path)) == "2"
        assert cluster.claim_gpu(1, envs[1], lock_dir=str(tmp_path)) == "5"
        assert [env["CUDA_VISIBLE_DEVICES"] for env in envs[:2]] == ["2", "5"]
        with pytest.raises(RuntimeError, match="held by other jobs"):
            cluster.claim_gpu(1, envs[2], lock_dir=str(tmp_path))
        # a finished job's lock frees its GPU for the next job
        cluster._HELD_CLAIMS.pop(held_before).close()
        assert cluster.claim_gpu(1, envs[2], lock_dir=str(tmp_path)) == "2"
    finally:
        while len(cluster._HELD_CLAIMS) > held_before:
            cluster._HELD_CLAIMS.pop().close()


def test_claim_gpu_leaves_slurm_single_gpu_and_cpu_jobs_alone(tmp_path):
    for env, n_gpus in [
        ({"SLURM_JOB_ID": "3", "CUDA_VISIBLE_DEVICES": "0,1"}, 1),
        ({"CUDA_VISIBLE_DEVICES": "3"}, 1),
        ({"CUDA_VISIBLE_DEVICES": "0,1"}, 0),
    ]:
        before = dict(env)
        assert cluster.claim_gpu(n_gpus, env, lock_dir=str(tmp_path)) is None
        assert env == before
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# Slow: a real one-node SLURM


@dataclass
class Cluster:
    state: Path
    conf: Path


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """munged + slurmctld + slurmd on localhost with 2 fake GPUs; stopped by pid at teardown."""
    missing = [tool for tool in SLURM_TOOLS if not shutil.which(tool, path=f"{os.environ.get('PATH', '')}:/usr/sbin")]
    if os.environ.get("LEUKOFLOW_SKIP_SLURM") == "1":
        state = f"missing: {', '.join(missing)}" if missing else "slurm-wlm and munge installed"
        pytest.skip(f"LEUKOFLOW_SKIP_SLURM=1 ({state}): the tiny workflow is not run on SLURM")
    hint = "(set LEUKOFLOW_SKIP_SLURM=1 to skip the SLURM test on a machine that cannot run it)"
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: run tests/system-packages.sh as root (`make test` does) to install "
            f"Debian's slurm-wlm and munge {hint}"
        )
    state = tmp_path_factory.mktemp("slurm")
    try:
        started = subprocess.run([str(CLUSTER_SH), "start", str(state)], capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            pytest.fail(f"cannot start a one-node SLURM: {started.stderr.strip()} {hint}")
        yield Cluster(state, Path(started.stdout.strip().splitlines()[-1]))
    finally:
        subprocess.run([str(CLUSTER_SH), "stop", str(state)], capture_output=True, timeout=120)


def read_manifest(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False)


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_workflow_on_slurm_matches_local_run(slurm_cluster, workdir, request, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    name = write_config(workdir, TINY)

    targets = tiny_targets()
    plan = planned_jobs(run_snakemake(workdir, *targets, "-n", *SLURM_FLAGS, "--configfile", name).stdout)
    gpu_rules = gpu_rules_of(plan)
    assert {"allidb2_augment", "allidb2_train"} <= gpu_rules

    start = time.monotonic()
    run_snakemake(workdir, *targets, *SLURM_FLAGS, "--configfile", name)
    slurm_seconds = time.monotonic() - start

    # Every planned job went through sbatch: one SLURM job (log and record) per job.
    jobs = slurm_jobs(workdir / SLURM_PROFILE["slurm-logdir"])
    submitted = sorted(job.rule for job in jobs)
    assert submitted == sorted(rule for rule, _ in plan if rule != "all")
    ctld_log = (slurm_cluster.state / "slurmctld.log").read_text()
    for job in jobs:
        assert re.search(rf"_slurm_rpc_submit_batch_job: JobId={job.job_id}\b", ctld_log)
        assert job.record["JobState"] == "COMPLETED", (job.rule, job.record.get("JobState"))

    # GPU rules asked for exactly one GPU and saw exactly the one SLURM gave them; others none.
    for job in jobs:
        seen = re.search(
            r"leukoflow-task-env SLURM_JOB_ID=(\d+) SLURM_JOB_GPUS=(\S*) "
            r"CUDA_VISIBLE_DEVICES=(\S*)",
            job.log.read_text(),
        )
        assert seen and seen.group(1) == job.job_id, job.log
        if job.rule in gpu_rules:
            assert job.gpu_request == "gres:gpu:1", (job.rule, job.gpu_request)
            assert seen.group(2) in {"0", "1"} and seen.group(3) == seen.group(2), seen.group(0)
        else:
            assert job.gpu_request == "" and seen.group(2) == seen.group(3) == "", seen.group(0)
    # Every job logs its allocation line (leukoflow.runtime.job): the training logs name their GPU.
    train_logs = list((workdir / "results" / "logs" / "allidb2_train").glob("*.log"))
    assert train_logs and all("CUDA_VISIBLE_DEVICES=" in p.read_text() for p in train_logs)

    # profiles/default caps gpu at 1 for a workstation; on SLURM that cap must not serialise
    # submissions: some GPU job was submitted while another was still running.
    gpu_jobs = [job for job in jobs if job.rule in gpu_rules]
    assert any(
        b.stamp("SubmitTime") < a.stamp("EndTime")
        and a.job_id != b.job_id
        and b.stamp("SubmitTime") >= a.stamp("SubmitTime")
        for a in gpu_jobs
        for b in gpu_jobs
    ), "GPU jobs were submitted one at a time"

    # The executor's job logs hold each job's stderr: no progress-bar fragments in them.
    assert not [job.log for job in jobs if "\r" in job.log.read_text()], "carriage returns in SLURM job logs"

    # The local reference: the session's shared tiny run (tests/workflow/conftest.py), asked for
    # only now, after SLURM's records are read, so that another worker can run it meanwhile.
    local = request.getfixturevalue("tiny_run")
    print(f"tiny workflow: {slurm_seconds:.0f} s on SLURM, {local.seconds:.0f} s locally (to the report)")

    # Same results as the local run: the same files in, and with the same seeds the same scores out.
    results, expected = workdir / "results", local.results
    for dataset in TINY["datasets"]:
        got = read_manifest(results / "manifests" / f"{dataset}.tsv")
        want = read_manifest(expected / "manifests" / f"{dataset}.tsv")
        assert len(got) > 0
        assert sorted(got["sha256"]) == sorted(want["sha256"]), dataset
    for protocol in TINY["allidb2"]["cnn"]["protocols"]:
        for fold in TINY["allidb2"]["cnn"]["folds"]:
            preds = Path("allidb2", protocol, f"fold{fold}", "test_predictions.tsv")
            got = pd.read_csv(results / preds, sep="\t")
            want = pd.read_csv(expected / preds, sep="\t")
            assert len(got) > 0 and got["prob_all"].between(0, 1).all()
            pd.testing.assert_frame_equal(got.drop(columns="prob_all"), want.drop(columns="prob_all"))
            # Same seeds, same scores within float tolerance: the two trainings run in different
            # processes whose float reductions may be ordered differently (seen: 4.5e-5 after the
            # tiny run's epochs, one run in three); another seed moves them by ~0.1.
            pd.testing.assert_series_equal(got["prob_all"], want["prob_all"], check_exact=False, rtol=0, atol=1e-3)
        # Table I: the design (bags, folds, test images) and every score computed from the predictions.
        got = pd.read_csv(results / "tables" / f"table1_{protocol}.tsv", sep="\t")
        want = pd.read_csv(expected / "tables" / f"table1_{protocol}.tsv", sep="\t")
        assert len(got) == len(TINY["allidb2"]["cnn"]["folds"]) + 1  # the folds, then the pooled row
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=0, atol=1e-5)
