# Config validation, shared paths, the stage switches and the registry of final outputs.
# Everything here runs at parse time, so a bad config stops the run before any job starts.

from snakemake.utils import validate

from leukoflow.config import (
    check_config,
    check_renamed_keys,
    coerce_command_line,
    enabled_datasets,
    is_enabled as stage_is_enabled,
    is_synthetic,
    only,
    sort_keys_in_place,
)

check_renamed_keys(config)
coerce_command_line(config)
validate(config, "../schemas/config.schema.yaml")
check_config(config)
sort_keys_in_place(config)

RESULTS = config["results"]
# Log and benchmark paths follow rule names (logs/<rule>/<job>.log, benchmarks/<rule>/<job>.tsv).
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
# GPU rules declare one GPU per job unless GPUs are switched off; the profile caps how many run.
GPU_PER_JOB = 0 if config["compute"]["accelerator"] == "cpu" else 1
# Threads of GPU-capable jobs: feeding a GPU needs fewer cores than computing on the CPU.
THREADS = config["compute"]["gpu_threads" if GPU_PER_JOB else "cpu_threads"]
DATASETS = enabled_datasets(config)
ENV = "../envs/leukoflow.yaml"
SCRIPTS = "../scripts"
# The only compute keys a job reads (core.device.job_device): passing the whole `compute` section
# would rerun every training when `cpu_threads` changes.
DEVICE = {
    "accelerator": config["compute"]["accelerator"],
    "allow_cpu_fallback": config["compute"]["allow_cpu_fallback"],
}

# File contracts between rule files, here so that no rule file depends on another's being read
# first (the includes may come in any order).
CNN = config["allidb2"]["cnn"]
ALLIDB2_MANIFEST = f"{RESULTS}/manifests/allidb2.tsv"
ALLIDB2_MODEL = f"{RESULTS}/allidb2/{{protocol}}/fold{{fold}}/model.pt"
ALLIDB2_BAG_INDEX = f"{RESULTS}/allidb2/{{protocol}}/bags/index.tsv"
ALLIDB2_TABLE1 = f"{RESULTS}/tables/table1_{{protocol}}.tsv"
# Where each ALL-IDB2 crop was cut from in ALL-IDB1 (allidb2_provenance), when both run:
# leak-free bags then keep the crops of one slide together; the slide stage reads it too.
ALLIDB2_PROVENANCE = f"{RESULTS}/provenance/allidb2_in_allidb1.tsv"


wildcard_constraints:
    dataset="|".join(DATASETS) if DATASETS else "none",
    protocol="leak_free|paper",
    # ALL-IDB1 slide methods (as_published, improved) and C-NMC methods (as_published, ours).
    method="as_published|improved|ours",
    fold=r"\d+",
    slide=r"Im\d+_[01]",


def is_enabled(stage):
    """Whether a stage runs ("allidb2", "allidb1/slides", ...; see leukoflow.config.STAGES)."""
    return stage_is_enabled(config, stage)


# Every rules file adds its stages' final outputs here, by report key (path or list of paths;
# nothing when a stage is off). `rule all` asks for all of them and the report rule receives them
# by name (see leukoflow/report/compose.py for the keys).
REPORT_INPUTS = {}


def report_inputs(wildcards):
    return REPORT_INPUTS


def final_targets():
    targets = []
    for value in REPORT_INPUTS.values():
        targets += [value] if isinstance(value, str) else list(value)
    # The report comes last: its inputs are every other stage's tables and figures.
    targets.append(f"{RESULTS}/report/index.html")
    return targets


def dataset_input(wildcards):
    """The synthetic dataset folder when the dataset runs on synthetic data; nothing otherwise.

    Real roots are passed as params: Snakemake does not track a folder's contents, so a changed
    real dataset needs `--forcerun data_manifest` (documented in README).
    """
    if is_synthetic(config, wildcards.dataset):
        return {"data": f"{RESULTS}/synthetic/{wildcards.dataset}/data"}
    return {}


def dataset_root(wildcards):
    if is_synthetic(config, wildcards.dataset):
        return f"{RESULTS}/synthetic/{wildcards.dataset}/data"
    return config["datasets"][wildcards.dataset]["root"]
