# Config validation, shared paths and input functions. Everything here runs at parse time,
# so a bad config stops the run before any job starts.

from pathlib import Path

import yaml

from snakemake.utils import validate

from leukoflow.config import (
    allidb1_slide_ids,
    check_config,
    enabled_datasets,
    is_synthetic,
    slide_model_folds,
)

validate(config, "../schemas/config.schema.yaml")
check_config(config)

RESULTS = config["results"]
CNN = config["allidb2_cnn"]
PAPER = yaml.safe_load(
    Path(workflow.basedir, "resources", "paper_values.yaml").read_text()
)
# GPU rules declare one GPU per job unless GPUs are switched off; the profile caps how many run.
GPU_PER_JOB = 0 if config["compute"]["accelerator"] == "cpu" else 1
# Threads of GPU-capable jobs: feeding a GPU needs fewer cores than computing on the CPU.
THREADS = config["compute"]["gpu_threads" if GPU_PER_JOB else "cpu_threads"]
DATASETS = enabled_datasets(config)
SLIDES = config["allidb1_slides"]
# The slide stage needs the ALL-IDB2 network; without ALL-IDB2 only the 50x50 CNN runs.
SLIDE_STAGE = "allidb1" in DATASETS and "allidb2" in DATASETS
ALLIDB1_SLIDES = allidb1_slide_ids(config) if "allidb1" in DATASETS else []
SLIDE_MODEL_FOLDS, HEATMAP_FOLD = (
    slide_model_folds(config) if SLIDE_STAGE else ([], None)
)
ENV = "../../envs/leukoflow.yaml"
SCRIPTS = "../../scripts"


wildcard_constraints:
    dataset="|".join(DATASETS) if DATASETS else "none",
    protocol="leak_free|paper",
    fold=r"\d+",
    slide=r"Im\d+_[01]",


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


def slide_models():
    protocol = SLIDES["model_protocol"]
    return [
        f"{RESULTS}/allidb2/{protocol}/fold{fold}/model.pt"
        for fold in SLIDE_MODEL_FOLDS
    ]


def heatmap_model():
    return f"{RESULTS}/allidb2/{SLIDES['model_protocol']}/fold{HEATMAP_FOLD}/model.pt"


def allidb1_truth():
    """The generator's truth (every white cell) when ALL-IDB1 is synthetic; nothing otherwise."""
    if is_synthetic(config, "allidb1"):
        return [f"{RESULTS}/synthetic/allidb1/truth.tsv"]
    return []


def all_targets():
    targets = expand(f"{RESULTS}/manifests/{{dataset}}.tsv", dataset=DATASETS)
    targets.append(f"{RESULTS}/summary/index.html")
    if "allidb2" in DATASETS:
        targets += expand(
            f"{RESULTS}/tables/table1_{{protocol}}.tsv", protocol=CNN["protocols"]
        )
    if SLIDE_STAGE:
        targets.append(f"{RESULTS}/tables/table2.tsv")
        targets += expand(
            f"{RESULTS}/allidb1/slides/{{slide}}/panel.png", slide=ALLIDB1_SLIDES
        )
        if config["filters"]["enabled"]:
            targets.append(f"{RESULTS}/allidb1/filters/blinding.tsv")
    if "allidb1" in DATASETS and config["cnn50"]["enabled"]:
        targets.append(f"{RESULTS}/tables/cnn50.tsv")
    # The report comes last: its inputs are every other stage's tables and figures.
    targets.append(f"{RESULTS}/report/index.html")
    return targets


def report_inputs(wildcards):
    """Named inputs of rule report, for the datasets, protocols and stages this config enables.

    To add a stage to the report: add its files under a new key here (and a renderer in
    leukoflow/report.py, whose docstring lists the keys). Lists are fine (e.g. one file per fold).
    """
    inputs = {
        "sources": expand(
            f"{RESULTS}/manifests/{{dataset}}.source.json", dataset=DATASETS
        ),
        "summary_counts": f"{RESULTS}/summary/counts.tsv",
        "summary_sizes": f"{RESULTS}/summary/sizes.tsv",
        "summary_sheets": expand(
            f"{RESULTS}/summary/contact_{{dataset}}.png", dataset=DATASETS
        ),
        "summary_rejected": f"{RESULTS}/manifests/rejected.tsv",
    }
    if "allidb2" in DATASETS:
        for protocol in CNN["protocols"]:
            inputs[f"table1_{protocol}"] = f"{RESULTS}/tables/table1_{protocol}.tsv"
            inputs[f"curves_{protocol}"] = (
                f"{RESULTS}/allidb2/{protocol}/learning_curves.png"
            )
            inputs[f"predictions_{protocol}"] = expand(
                f"{RESULTS}/allidb2/{protocol}/fold{{fold}}/test_predictions.tsv",
                fold=CNN["folds"],
            )
    if SLIDE_STAGE:
        inputs.update(
            table2=f"{RESULTS}/tables/table2.tsv",
            cells=f"{RESULTS}/tables/allidb1_cells.tsv",
            slide_verdicts=f"{RESULTS}/allidb1/slide_verdicts.tsv",
            cells_per_slide=f"{RESULTS}/allidb1/cells_per_slide.tsv",
        )
        # One key per slide: the report captions each panel with its slide id.
        for slide in ALLIDB1_SLIDES:
            inputs[f"panel_{slide}"] = f"{RESULTS}/allidb1/slides/{slide}/panel.png"
        if config["filters"]["enabled"]:
            filters = f"{RESULTS}/allidb1/filters"
            inputs.update(
                filters_blinding=f"{filters}/blinding.tsv",
                filters_blinding_png=f"{filters}/blinding.png",
                filters_js_raw=f"{filters}/js_raw.png",
                filters_js_sorted=f"{filters}/js_sorted.png",
            )
    # Like all_targets(): the 50x50 CNN needs ALL-IDB1 only, not the slide stage.
    if "allidb1" in DATASETS and config["cnn50"]["enabled"]:
        inputs["cnn50"] = f"{RESULTS}/tables/cnn50.tsv"
        inputs["cnn50_predictions"] = f"{RESULTS}/allidb1/cnn50/test_predictions.tsv"
    return inputs
