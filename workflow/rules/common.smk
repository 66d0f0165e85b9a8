# Config validation, shared paths and input functions. Everything here runs at parse time,
# so a bad config stops the run before any job starts.

from pathlib import Path

from snakemake.utils import validate

from leukoflow.config import check_config, enabled_datasets, is_synthetic

validate(config, "../schemas/config.schema.yaml")
check_config(config)

RESULTS = config["results"]
DATASETS = enabled_datasets(config)
ENV = "../../envs/leukoflow.yaml"
SCRIPTS = "../../scripts"


wildcard_constraints:
    dataset="|".join(DATASETS) if DATASETS else "none",


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


def all_targets():
    targets = expand(f"{RESULTS}/manifests/{{dataset}}.tsv", dataset=DATASETS)
    targets.append(f"{RESULTS}/summary/index.html")
    return targets
