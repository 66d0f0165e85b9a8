# ALL-IDB2 (Ghosh, Singh & Sheet 2017, III-A, IV-B, IV-C): 36 rotated/mirrored copies per crop
# dealt into five bags, ten folds of training (Table I), and the analysis of the network's filters.

from leukoflow.allidb2.settings import FILTER_KEYS, TRAIN_KEYS
from leukoflow.config import filter_model

FILTER_PROTOCOL, FILTER_FOLD = (
    filter_model(config) if is_enabled("allidb2/filters") else (None, None)
)


ANGLES = [CNN["angle_step"] * k for k in range(int(round(360 / CNN["angle_step"])))]
# CNN, ALLIDB2_MODEL, ALLIDB2_PROVENANCE and the other paths other rule files read: common.smk.
ALLIDB2_BAGS = expand(
    f"{RESULTS}/allidb2/{{{{protocol}}}}/bags/bag{{bag}}.pt",
    bag=range(1, CNN["n_bags"] + 1),
)
PROVENANCE_ON = is_enabled("allidb2/provenance")


rule allidb2_provenance:
    input:
        crops=ALLIDB2_MANIFEST,
        slides=f"{RESULTS}/manifests/allidb1.tsv",
        # The generator's planted provenance when ALL-IDB2 is synthetic: the summary checks it.
        truth=(
            [f"{RESULTS}/synthetic/allidb2/truth.tsv"]
            if is_synthetic(config, "allidb2")
            else []
        ),
    output:
        table=ALLIDB2_PROVENANCE,
        summary=f"{RESULTS}/provenance/summary.tsv",
    log:
        f"{LOGS}/allidb2_provenance/provenance.log",
    benchmark:
        f"{BENCHMARKS}/allidb2_provenance/provenance.tsv"
    conda:
        ENV
    threads: config["compute"]["cpu_threads"]
    params:
        # Only what changes the table: a new figure must not retrain the leak-free folds.
        settings={
            key: value
            for key, value in config["allidb2"]["provenance"].items()
            if key not in ("enabled", "figure_crops")
        },
    script:
        f"{SCRIPTS}/allidb2/provenance.py"


rule allidb2_provenance_figure:
    input:
        table=ALLIDB2_PROVENANCE,
        crops=ALLIDB2_MANIFEST,
        slides=f"{RESULTS}/manifests/allidb1.tsv",
    output:
        figure=report(
            f"{RESULTS}/provenance/matches.png",
            caption="../report/provenance.rst",
            category="3. ALL-IDB2 Table I",
            labels={"result": "crops found in ALL-IDB1 slides"},
        ),
    log:
        f"{LOGS}/allidb2_provenance_figure/figure.log",
    benchmark:
        f"{BENCHMARKS}/allidb2_provenance_figure/figure.tsv"
    conda:
        ENV
    params:
        n_crops=config["allidb2"]["provenance"]["figure_crops"],
        synthetic=is_synthetic(config, "allidb2") or is_synthetic(config, "allidb1"),
    script:
        f"{SCRIPTS}/allidb2/provenance_figure.py"


rule allidb2_augment:
    input:
        manifest=ALLIDB2_MANIFEST,
        # Leak-free bags group crops by slide when the provenance is measured.
        provenance=lambda wildcards: (
            [ALLIDB2_PROVENANCE]
            if PROVENANCE_ON and wildcards.protocol == "leak_free"
            else []
        ),
    output:
        bags=ALLIDB2_BAGS,
        index=ALLIDB2_BAG_INDEX,
    log:
        f"{LOGS}/allidb2_augment/{{protocol}}.log",
    benchmark:
        f"{BENCHMARKS}/allidb2_augment/{{protocol}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        angles=ANGLES,
        mirror=CNN["mirror"],
        frame=CNN["frame"],
        input_size=CNN["input_size"],
        seed=CNN["seed"],
        compute=DEVICE,
    script:
        f"{SCRIPTS}/allidb2/augment.py"


# One job per protocol and fold; resumable state lives under results/state (not a declared
# output, which Snakemake deletes when a job fails), so a killed job restarts from its last epoch.
rule allidb2_train:
    input:
        bags=rules.allidb2_augment.output.bags,
        index=rules.allidb2_augment.output.index,
    output:
        model=ALLIDB2_MODEL,
        history=f"{RESULTS}/allidb2/{{protocol}}/fold{{fold}}/history.csv",
        predictions=f"{RESULTS}/allidb2/{{protocol}}/fold{{fold}}/test_predictions.tsv",
    log:
        f"{LOGS}/allidb2_train/{{protocol}}_fold{{fold}}.log",
    benchmark:
        f"{BENCHMARKS}/allidb2_train/{{protocol}}_fold{{fold}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        state_dir=f"{RESULTS}/state/allidb2/{{protocol}}/fold{{fold}}",
        cnn=only(CNN, TRAIN_KEYS),
        compute=DEVICE,
        weights_cache=f"{RESULTS}/state/weights",
    script:
        f"{SCRIPTS}/allidb2/train.py"


rule allidb2_table1:
    input:
        predictions=expand(
            f"{RESULTS}/allidb2/{{{{protocol}}}}/fold{{fold}}/test_predictions.tsv",
            fold=CNN["folds"],
        ),
        histories=expand(
            f"{RESULTS}/allidb2/{{{{protocol}}}}/fold{{fold}}/history.csv",
            fold=CNN["folds"],
        ),
        index=rules.allidb2_augment.output.index,
        source=f"{RESULTS}/manifests/allidb2.source.json",
    output:
        table=report(
            ALLIDB2_TABLE1,
            caption="../report/table1.rst",
            category="3. ALL-IDB2 Table I",
            subcategory="{protocol}",
            labels={"protocol": "{protocol}", "result": "Table I"},
        ),
        html=f"{RESULTS}/tables/table1_{{protocol}}.html",
        curves=report(
            f"{RESULTS}/allidb2/{{protocol}}/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="3. ALL-IDB2 Table I",
            subcategory="{protocol}",
            labels={"protocol": "{protocol}", "result": "learning curves"},
        ),
    log:
        f"{LOGS}/allidb2_table1/{{protocol}}.log",
    benchmark:
        f"{BENCHMARKS}/allidb2_table1/{{protocol}}.tsv"
    conda:
        ENV
    params:
        folds=CNN["folds"],
    script:
        f"{SCRIPTS}/allidb2/table1.py"


rule allidb2_filters:
    input:
        model=ALLIDB2_MODEL.format(protocol=FILTER_PROTOCOL, fold=FILTER_FOLD),
        bags=[bag.format(protocol=FILTER_PROTOCOL) for bag in ALLIDB2_BAGS],
        source=f"{RESULTS}/manifests/allidb2.source.json",
    output:
        blinding=f"{RESULTS}/allidb2/filters/blinding.tsv",
        blinding_png=report(
            f"{RESULTS}/allidb2/filters/blinding.png",
            caption="../report/filter_blinding.rst",
            category="4. ALL-IDB2 filter analysis",
            labels={"figure": "filter blinding"},
        ),
        js_raw=report(
            f"{RESULTS}/allidb2/filters/js_raw.png",
            caption="../report/filter_js.rst",
            category="4. ALL-IDB2 filter analysis",
            labels={"figure": "JS distances, filter order"},
        ),
        js_sorted=report(
            f"{RESULTS}/allidb2/filters/js_sorted.png",
            caption="../report/filter_js.rst",
            category="4. ALL-IDB2 filter analysis",
            labels={"figure": "JS distances, clustered order"},
        ),
    log:
        f"{LOGS}/allidb2_filters/filters.log",
    benchmark:
        f"{BENCHMARKS}/allidb2_filters/filters.tsv"
    conda:
        ENV
    threads: THREADS
    params:
        fold=FILTER_FOLD,
        cnn=only(CNN, FILTER_KEYS),
        n_patches=config["allidb2"]["filters"]["n_patches"],
    script:
        f"{SCRIPTS}/allidb2/filters.py"


if is_enabled("allidb2"):
    for protocol in CNN["protocols"]:
        REPORT_INPUTS[f"table1_{protocol}"] = f"{RESULTS}/tables/table1_{protocol}.tsv"
        REPORT_INPUTS[f"curves_{protocol}"] = (
            f"{RESULTS}/allidb2/{protocol}/learning_curves.png"
        )
        REPORT_INPUTS[f"predictions_{protocol}"] = expand(
            f"{RESULTS}/allidb2/{protocol}/fold{{fold}}/test_predictions.tsv",
            fold=CNN["folds"],
        )
if PROVENANCE_ON:
    REPORT_INPUTS.update(
        provenance_table=ALLIDB2_PROVENANCE,
        provenance_summary=f"{RESULTS}/provenance/summary.tsv",
        provenance_figure=f"{RESULTS}/provenance/matches.png",
    )
if is_enabled("allidb2/filters"):
    REPORT_INPUTS.update(
        filters_blinding=f"{RESULTS}/allidb2/filters/blinding.tsv",
        filters_blinding_png=f"{RESULTS}/allidb2/filters/blinding.png",
        filters_js_raw=f"{RESULTS}/allidb2/filters/js_raw.png",
        filters_js_sorted=f"{RESULTS}/allidb2/filters/js_sorted.png",
    )
