# C-NMC 2019 (Liu & Long, ISBI 2019 C-NMC challenge): convex-hull cell crops, a 7:3 split by
# subject, designed bagging subsets A and B, two backbones and a combined model, the most
# confident model's label per cell, Table 1 (docs/cnmc.md). Every step runs once per method
# (`as_published`, `ours`: leukoflow/cnmc/methods.py), each with its own files.

from leukoflow.cnmc import methods as cnmc_methods
from leukoflow.cnmc.names import BACKBONE_MODELS, MODEL_NAMES
from leukoflow.cnmc.subsets import PROTOCOLS as CNMC_PROTOCOLS

CNMC = config["cnmc"]
CNMC_METHODS = list(CNMC["methods"])
# Table 1 comes from the configured split; `cnmc.leak_check` trains one method on the other split
# too, and the protocol table scores both (leukoflow/cnmc/protocols.py).
CNMC_SPLIT = CNMC["split"]["protocol"]
CNMC_LEAK_CHECK = CNMC["leak_check"]
CNMC_DIR = f"{RESULTS}/cnmc/{{method}}"
CNMC_RUN = f"{CNMC_DIR}/split_by_{{split_by}}"
CNMC_STATE = f"{RESULTS}/state/cnmc/{{method}}/split_by_{{split_by}}"
CNMC_TABLE = f"{RESULTS}/tables/cnmc_prelim_{{method}}.tsv"
CNMC_SUBJECTS = f"{RESULTS}/tables/cnmc_subjects_{{method}}.tsv"
CNMC_PROTOCOL_TABLE = f"{RESULTS}/tables/cnmc_protocols.tsv"
CNMC_MODEL = f"{CNMC_RUN}/models/{{model}}/model.pt"
CNMC_HISTORY = f"{CNMC_RUN}/models/{{model}}/history.csv"
# The ensemble's members, in the order of its probability columns.
CNMC_MEMBERS = list(MODEL_NAMES)


wildcard_constraints:
    split_by="|".join(CNMC_PROTOCOLS),


rule cnmc_crop:
    input:
        manifest=f"{RESULTS}/manifests/cnmc.tsv",
        rejected=f"{RESULTS}/manifests/cnmc.rejected.tsv",
    output:
        crops=f"{CNMC_DIR}/crops/cells.pt",
        index=f"{CNMC_DIR}/crops/cells.tsv",
        unlabelled=f"{CNMC_DIR}/crops/unlabelled.pt",
        unlabelled_index=f"{CNMC_DIR}/crops/unlabelled.tsv",
        sheet=report(
            f"{CNMC_DIR}/crops/contact_sheet.png",
            caption="../report/cnmc_crops.rst",
            category="8. C-NMC 2019",
            labels={"figure": "crops before and after", "method": "{method}"},
        ),
    log:
        f"{LOGS}/cnmc_crop/{{method}}.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_crop/{{method}}.tsv"
    conda:
        ENV
    threads: config["compute"]["cpu_threads"]
    params:
        crop=cnmc_methods.rule_params(CNMC, "crop"),
        strict=config["datasets"]["cnmc"]["strict"],
    script:
        f"{SCRIPTS}/cnmc/crop.py"


rule cnmc_subsets:
    input:
        index=rules.cnmc_crop.output.index,
    output:
        subsets=f"{CNMC_RUN}/subsets.tsv",
        split=f"{CNMC_RUN}/split.json",
    log:
        f"{LOGS}/cnmc_subsets/{{method}}/split_by_{{split_by}}.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_subsets/{{method}}/split_by_{{split_by}}.tsv"
    conda:
        ENV
    params:
        split=lambda wildcards: {**CNMC["split"], "protocol": wildcards.split_by},
    script:
        f"{SCRIPTS}/cnmc/subsets.py"


# Stage 1, one job (and one GPU) per model. Resumable state under results/state: Snakemake
# deletes the declared outputs of a failed job, so a killed job restarts from its last epoch.
rule cnmc_train_backbone:
    input:
        crops=rules.cnmc_crop.output.crops,
        subsets=rules.cnmc_subsets.output.subsets,
    output:
        model=CNMC_MODEL,
        history=CNMC_HISTORY,
    log:
        f"{LOGS}/cnmc_train_backbone/{{method}}/split_by_{{split_by}}/{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_train_backbone/{{method}}/split_by_{{split_by}}/{{model}}.tsv"
    wildcard_constraints:
        model="|".join(BACKBONE_MODELS),
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        state_dir=f"{CNMC_STATE}/{{model}}",
        backbones=cnmc_methods.rule_params(CNMC, "backbones"),
        augment=CNMC["augment"],
        compute=DEVICE,
        weights_cache=f"{RESULTS}/state/weights",
    script:
        f"{SCRIPTS}/cnmc/train_backbone.py"


rule cnmc_train_combined:
    input:
        crops=rules.cnmc_crop.output.crops,
        subsets=rules.cnmc_subsets.output.subsets,
        model_a=CNMC_MODEL.replace("{model}", "A"),
        model_b=CNMC_MODEL.replace("{model}", "B"),
    output:
        model=CNMC_MODEL.replace("{model}", "combined"),
        history=CNMC_HISTORY.replace("{model}", "combined"),
    log:
        f"{LOGS}/cnmc_train_combined/{{method}}/split_by_{{split_by}}.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_train_combined/{{method}}/split_by_{{split_by}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        state_dir=f"{CNMC_STATE}/combined",
        combined=CNMC["combined"],
        compute=DEVICE,
    script:
        f"{SCRIPTS}/cnmc/train_combined.py"


rule cnmc_predict:
    input:
        crops=rules.cnmc_crop.output.crops,
        subsets=rules.cnmc_subsets.output.subsets,
        unlabelled=rules.cnmc_crop.output.unlabelled,
        unlabelled_index=rules.cnmc_crop.output.unlabelled_index,
        models=[CNMC_MODEL.replace("{model}", member) for member in CNMC_MEMBERS],
    output:
        predictions=f"{CNMC_RUN}/predictions.tsv",
        unlabelled=f"{CNMC_RUN}/final_phase_predictions.tsv",
    log:
        f"{LOGS}/cnmc_predict/{{method}}/split_by_{{split_by}}.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_predict/{{method}}/split_by_{{split_by}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        compute=DEVICE,
        batch_size=CNMC["combined"]["batch_size"],
    script:
        f"{SCRIPTS}/cnmc/predict.py"


rule cnmc_tables:
    input:
        predictions=rules.cnmc_predict.output.predictions.replace(
            "{split_by}", CNMC_SPLIT
        ),
        split=rules.cnmc_subsets.output.split.replace("{split_by}", CNMC_SPLIT),
        histories=[
            CNMC_HISTORY.replace("{split_by}", CNMC_SPLIT).replace("{model}", member)
            for member in CNMC_MEMBERS
        ],
        source=f"{RESULTS}/manifests/cnmc.source.json",
    output:
        table=report(
            CNMC_TABLE,
            caption="../report/cnmc_table.rst",
            category="8. C-NMC 2019",
            labels={"result": "Table 1", "method": "{method}"},
        ),
        html=f"{RESULTS}/tables/cnmc_prelim_{{method}}.html",
        subjects=CNMC_SUBJECTS,
        curves=report(
            f"{CNMC_DIR}/learning_curves.png",
            caption="../report/cnmc_curves.rst",
            category="8. C-NMC 2019",
            labels={"result": "learning curves", "method": "{method}"},
        ),
    log:
        f"{LOGS}/cnmc_tables/{{method}}.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_tables/{{method}}.tsv"
    conda:
        ENV
    params:
        tables=CNMC["tables"],
        deviations=lambda wildcards: cnmc_methods.deviations(CNMC, wildcards.method),
    script:
        f"{SCRIPTS}/cnmc/tables.py"


# The leak a split by cell hides: one method trained on both splits, scored side by side.
rule cnmc_protocols:
    input:
        predictions=expand(
            rules.cnmc_predict.output.predictions,
            method=CNMC_LEAK_CHECK["method"],
            split_by=CNMC_PROTOCOLS,
        ),
        splits=expand(
            rules.cnmc_subsets.output.split,
            method=CNMC_LEAK_CHECK["method"],
            split_by=CNMC_PROTOCOLS,
        ),
        source=f"{RESULTS}/manifests/cnmc.source.json",
    output:
        table=report(
            CNMC_PROTOCOL_TABLE,
            caption="../report/cnmc_protocols.rst",
            category="8. C-NMC 2019",
            labels={"result": "split by subject against split by cell"},
        ),
    log:
        f"{LOGS}/cnmc_protocols/cnmc_protocols.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_protocols/cnmc_protocols.tsv"
    conda:
        ENV
    params:
        method=CNMC_LEAK_CHECK["method"],
        protocols=list(CNMC_PROTOCOLS),
        tables=CNMC["tables"],
    script:
        f"{SCRIPTS}/cnmc/protocols.py"


if is_enabled("cnmc"):
    # One key per method and file: the report shows the methods side by side.
    for _method in CNMC_METHODS:
        _run = CNMC_RUN.replace("{split_by}", CNMC_SPLIT).replace("{method}", _method)
        REPORT_INPUTS.update(
            {
                f"cnmc_table_{_method}": CNMC_TABLE.format(method=_method),
                f"cnmc_subjects_{_method}": CNMC_SUBJECTS.format(method=_method),
                f"cnmc_split_{_method}": f"{_run}/split.json",
                f"cnmc_predictions_{_method}": f"{_run}/predictions.tsv",
                f"cnmc_curves_{_method}": f"{CNMC_DIR}/learning_curves.png".format(
                    method=_method
                ),
                f"cnmc_crop_sheet_{_method}": f"{CNMC_DIR}/crops/contact_sheet.png".format(
                    method=_method
                ),
                f"cnmc_unlabelled_{_method}": f"{_run}/final_phase_predictions.tsv",
            }
        )
    if CNMC_LEAK_CHECK["enabled"]:
        REPORT_INPUTS["cnmc_protocols"] = CNMC_PROTOCOL_TABLE
