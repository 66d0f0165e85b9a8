# Config validation, shared paths and input functions. Everything here runs at parse time,
# so a bad config stops the run before any job starts.

from pathlib import Path

import yaml

from snakemake.utils import validate

from leukoflow.config import check_config, enabled_datasets, is_synthetic

validate(config, "../schemas/config.schema.yaml")
check_config(config)

RESULTS = config["results"]
CNN = config["allidb2_cnn"]
PAPER = yaml.safe_load(Path(workflow.basedir, "resources", "paper_values.yaml").read_text())
# GPU rules declare one GPU per job unless GPUs are switched off; the profile caps how many run.
GPU_PER_JOB = 0 if config["compute"]["accelerator"] == "cpu" else 1
THREADS = config["compute"]["cpu_threads"]
DATASETS = enabled_datasets(config)
ENV = "../../envs/leukoflow.yaml"
SCRIPTS = "../../scripts"


wildcard_constraints:
    dataset="|".join(DATASETS) if DATASETS else "none",
    protocol="leak_free|paper",
    fold=r"\d+",


def dataset_input(wildcards):
    """The synthetic dataset folder when the dataset runs on synthetic data; nothing otherwise.

    Real roots are passed as params: Snakemake does not track a folder's contents, so a changed
    real dataset needs `--forcerun manifest` (documented in README).
    """
    if is_synthetic(config, wildcards.dataset):
        return {"data": f"{RESULTS}/synthetic/{wildcards.dataset}/data"}
    return {}


def dataset_root(wildcards):
    if is_synthetic(config, wildcards.dataset):
        return f"{RESULTS}/synthetic/{wildcards.dataset}/data"
    return config["datasets"][wildcards.dataset]["root"]


def augment_angles():
    step = CNN["angle_step"]
    return [step * k for k in range(int(round(360 / step)))]


def all_targets():
    targets = expand(f"{RESULTS}/manifests/{{dataset}}.tsv", dataset=DATASETS)
    targets.append(f"{RESULTS}/summary/index.html")
    if "allidb2" in DATASETS:
        targets += expand(f"{RESULTS}/tables/table1_{{protocol}}.tsv", protocol=CNN["protocols"])
    return targets
