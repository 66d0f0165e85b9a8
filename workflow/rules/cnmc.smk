# C-NMC 2019 (Liu & Long, ISBI 2019 C-NMC challenge): convex-hull cell crops, a 7:3 split by
# subject, designed bagging subsets A and B, two backbones and a combined model, the most
# confident model's label per cell, Table 1 (docs/cnmc.md).

from leukoflow.cnmc.names import BACKBONE_MODELS, MODEL_NAMES

CNMC = config["cnmc"]
CNMC_DIR = f"{RESULTS}/cnmc"
CNMC_STATE = f"{RESULTS}/state/cnmc"
CNMC_MODEL = f"{CNMC_DIR}/models/{{model}}/model.pt"
CNMC_HISTORY = f"{CNMC_DIR}/models/{{model}}/history.csv"
# The ensemble's members, in the order of its probability columns.
CNMC_MEMBERS = list(MODEL_NAMES)


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
            labels={"figure": "crops before and after"},
        ),
    log:
        f"{LOGS}/cnmc_crop/cnmc.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_crop/cnmc.tsv"
    conda:
        ENV
    threads: config["compute"]["cpu_threads"]
    params:
        crop=CNMC["crop"],
        strict=config["datasets"]["cnmc"]["strict"],
    script:
        f"{SCRIPTS}/cnmc/crop.py"


rule cnmc_subsets:
    input:
        index=rules.cnmc_crop.output.index,
    output:
        subsets=f"{CNMC_DIR}/subsets.tsv",
        split=f"{CNMC_DIR}/split.json",
    log:
        f"{LOGS}/cnmc_subsets/cnmc.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_subsets/cnmc.tsv"
    conda:
        ENV
    params:
        split=CNMC["split"],
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
        f"{LOGS}/cnmc_train_backbone/{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_train_backbone/{{model}}.tsv"
    wildcard_constraints:
        model="|".join(BACKBONE_MODELS),
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        state_dir=f"{CNMC_STATE}/{{model}}",
        backbones=CNMC["backbones"],
        augment=CNMC["augment"],
        compute=DEVICE,
        weights_cache=f"{RESULTS}/state/weights",
    script:
        f"{SCRIPTS}/cnmc/train_backbone.py"


rule cnmc_train_combined:
    input:
        crops=rules.cnmc_crop.output.crops,
        subsets=rules.cnmc_subsets.output.subsets,
        model_a=CNMC_MODEL.format(model="A"),
        model_b=CNMC_MODEL.format(model="B"),
    output:
        model=CNMC_MODEL.format(model="combined"),
        history=CNMC_HISTORY.format(model="combined"),
    log:
        f"{LOGS}/cnmc_train_combined/cnmc.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_train_combined/cnmc.tsv"
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
        models=[CNMC_MODEL.format(model=member) for member in CNMC_MEMBERS],
    output:
        predictions=f"{CNMC_DIR}/predictions.tsv",
        unlabelled=f"{CNMC_DIR}/final_phase_predictions.tsv",
    log:
        f"{LOGS}/cnmc_predict/cnmc.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_predict/cnmc.tsv"
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
        predictions=rules.cnmc_predict.output.predictions,
        split=rules.cnmc_subsets.output.split,
        histories=[CNMC_HISTORY.format(model=member) for member in CNMC_MEMBERS],
        source=f"{RESULTS}/manifests/cnmc.source.json",
    output:
        table=report(
            f"{RESULTS}/tables/cnmc_prelim.tsv",
            caption="../report/cnmc_table.rst",
            category="8. C-NMC 2019",
            labels={"result": "Table 1"},
        ),
        html=f"{RESULTS}/tables/cnmc_prelim.html",
        subjects=f"{RESULTS}/tables/cnmc_subjects.tsv",
        curves=report(
            f"{CNMC_DIR}/learning_curves.png",
            caption="../report/cnmc_curves.rst",
            category="8. C-NMC 2019",
            labels={"result": "learning curves"},
        ),
    log:
        f"{LOGS}/cnmc_tables/cnmc.log",
    benchmark:
        f"{BENCHMARKS}/cnmc_tables/cnmc.tsv"
    conda:
        ENV
    params:
        tables=CNMC["tables"],
    script:
        f"{SCRIPTS}/cnmc/tables.py"


if is_enabled("cnmc"):
    REPORT_INPUTS.update(
        cnmc_table=f"{RESULTS}/tables/cnmc_prelim.tsv",
        cnmc_subjects=f"{RESULTS}/tables/cnmc_subjects.tsv",
        cnmc_split=f"{CNMC_DIR}/split.json",
        cnmc_predictions=f"{CNMC_DIR}/predictions.tsv",
        cnmc_curves=f"{CNMC_DIR}/learning_curves.png",
        cnmc_crop_sheet=f"{CNMC_DIR}/crops/contact_sheet.png",
        cnmc_unlabelled=f"{CNMC_DIR}/final_phase_predictions.tsv",
    )
