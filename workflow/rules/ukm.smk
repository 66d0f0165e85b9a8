# UKM-WBC: grey + CLAHE, U-Net nucleus segmentation with dice loss (k folds by source image),
# 5x5 opening, one ROI crop per nucleus, and a three-class CNN (docs/ukm.md).

from leukoflow.config import ukm_unet_runs
from leukoflow.ukm import methods as ukm_methods
from leukoflow.ukm.keys import UNET_TRAIN_KEYS

UKM = config["ukm"]
UKM_UNET = UKM["unet"]
UKM_FOLDS = list(range(1, UKM_UNET["folds"] + 1))
# (loss, fold) of every U-Net: the paper's loss on every fold, the comparison loss on one fold.
UKM_RUNS = ukm_unet_runs(config)
UKM_DIR = f"{RESULTS}/ukm"
# File contracts: one U-Net per (loss, fold).
UKM_UNET_MODEL = f"{RESULTS}/ukm/unet/{{loss}}/fold{{fold}}/model.pt"
UKM_UNET_HISTORY = f"{RESULTS}/ukm/unet/{{loss}}/fold{{fold}}/history.csv"
# One classifier per method (as_published, ours: leukoflow/ukm/methods.py), on the same crops.
UKM_METHODS = list(UKM["methods"])
UKM_CLASSIFIER_DIR = f"{UKM_DIR}/classifier/{{method}}"
UKM_STATE = f"{RESULTS}/state/ukm"


rule ukm_preprocess:
    input:
        manifest=f"{RESULTS}/manifests/ukm.tsv",
    output:
        images=f"{UKM_DIR}/preprocessed/images.pt",
        index=f"{UKM_DIR}/preprocessed/index.tsv",
    log:
        f"{LOGS}/ukm_preprocess/ukm.log",
    benchmark:
        f"{BENCHMARKS}/ukm_preprocess/ukm.tsv"
    conda:
        ENV
    threads: config["compute"]["cpu_threads"]
    params:
        preprocess=UKM["preprocess"],
        folds=UKM_UNET["folds"],
        test_fraction=UKM["classifier"]["test_fraction"],
    script:
        f"{SCRIPTS}/ukm/preprocess.py"


# One job per (loss, fold); resumable state under results/state (Snakemake deletes the declared
# outputs of a failed job), so a killed job restarts from its last finished epoch.
rule ukm_train_unet:
    input:
        images=rules.ukm_preprocess.output.images,
        index=rules.ukm_preprocess.output.index,
    output:
        model=UKM_UNET_MODEL,
        history=UKM_UNET_HISTORY,
    log:
        f"{LOGS}/ukm_train_unet/{{loss}}_fold{{fold}}.log",
    benchmark:
        f"{BENCHMARKS}/ukm_train_unet/{{loss}}_fold{{fold}}.tsv"
    wildcard_constraints:
        loss="dice|cross_entropy|dice_cross_entropy",
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        state_dir=f"{UKM_STATE}/unet/{{loss}}/fold{{fold}}",
        unet={key: UKM_UNET[key] for key in UNET_TRAIN_KEYS},
        augment=UKM["augment"],
        compute=DEVICE,
    script:
        f"{SCRIPTS}/ukm/train_unet.py"


rule ukm_segment:
    input:
        images=rules.ukm_preprocess.output.images,
        index=rules.ukm_preprocess.output.index,
        models=[UKM_UNET_MODEL.format(loss=loss, fold=fold) for loss, fold in UKM_RUNS],
    output:
        counts=f"{UKM_DIR}/segment/pixel_counts.tsv",
        crops=f"{UKM_DIR}/segment/crops.pt",
        crops_index=f"{UKM_DIR}/segment/crops.tsv",
        examples=f"{UKM_DIR}/segment/examples.pt",
    log:
        f"{LOGS}/ukm_segment/ukm.log",
    benchmark:
        f"{BENCHMARKS}/ukm_segment/ukm.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        runs=UKM_RUNS,
        main_loss=UKM_UNET["loss"],
        segment=UKM["segment"],
        crop_source=UKM["classifier"]["crop_source"],
        compute=DEVICE,
    script:
        f"{SCRIPTS}/ukm/segment.py"


rule ukm_train_classifier:
    input:
        crops=rules.ukm_segment.output.crops,
        crops_index=rules.ukm_segment.output.crops_index,
    output:
        model=f"{UKM_CLASSIFIER_DIR}/model.pt",
        history=f"{UKM_CLASSIFIER_DIR}/history.csv",
        predictions=f"{UKM_CLASSIFIER_DIR}/test_predictions.tsv",
    log:
        f"{LOGS}/ukm_train_classifier/{{method}}.log",
    benchmark:
        f"{BENCHMARKS}/ukm_train_classifier/{{method}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        state_dir=f"{UKM_STATE}/classifier/{{method}}",
        classifier=UKM["classifier"],
        switches=ukm_methods.rule_params(UKM),
        augment=UKM["augment"],
        compute=DEVICE,
    script:
        f"{SCRIPTS}/ukm/train_classifier.py"


rule ukm_tables:
    input:
        counts=rules.ukm_segment.output.counts,
        crops=rules.ukm_segment.output.crops,
        crops_index=rules.ukm_segment.output.crops_index,
        examples=rules.ukm_segment.output.examples,
        unet_histories=[
            UKM_UNET_HISTORY.format(loss=loss, fold=fold) for loss, fold in UKM_RUNS
        ],
        predictions=expand(
            f"{UKM_CLASSIFIER_DIR}/test_predictions.tsv", method=UKM_METHODS
        ),
        classifier_histories=expand(
            f"{UKM_CLASSIFIER_DIR}/history.csv", method=UKM_METHODS
        ),
        classifier_models=expand(f"{UKM_CLASSIFIER_DIR}/model.pt", method=UKM_METHODS),
        index=rules.ukm_preprocess.output.index,
        source=f"{RESULTS}/manifests/ukm.source.json",
    output:
        segmentation=report(
            f"{RESULTS}/tables/ukm_segmentation.tsv",
            caption="../report/ukm_segmentation.rst",
            category="9. UKM-WBC",
            labels={"result": "nucleus segmentation"},
        ),
        segmentation_html=f"{RESULTS}/tables/ukm_segmentation.html",
        comparison=f"{RESULTS}/tables/ukm_loss_comparison.tsv",
        classification=report(
            f"{RESULTS}/tables/ukm_classification.tsv",
            caption="../report/ukm_classification.rst",
            category="9. UKM-WBC",
            labels={"result": "classification"},
        ),
        classification_html=f"{RESULTS}/tables/ukm_classification.html",
        unet_curves=f"{UKM_DIR}/unet_learning_curves.png",
        classifier_curves=f"{UKM_DIR}/classifier_learning_curves.png",
        panel=report(
            f"{UKM_DIR}/examples.png",
            caption="../report/ukm_examples.rst",
            category="9. UKM-WBC",
            labels={"result": "examples"},
        ),
    log:
        f"{LOGS}/ukm_tables/ukm.log",
    benchmark:
        f"{BENCHMARKS}/ukm_tables/ukm.tsv"
    conda:
        ENV
    params:
        runs=UKM_RUNS,
        main_loss=UKM_UNET["loss"],
        folds=UKM_FOLDS,
        compare_fold=UKM_UNET["compare_fold"],
        methods=UKM_METHODS,
        deviations={
            method: ukm_methods.deviations(UKM, method) for method in UKM_METHODS
        },
        # The example figure shows one classifier's calls: ours where it runs.
        panel_method="ours" if "ours" in UKM_METHODS else UKM_METHODS[0],
    script:
        f"{SCRIPTS}/ukm/tables.py"


if is_enabled("ukm"):
    REPORT_INPUTS.update(
        ukm_segmentation=f"{RESULTS}/tables/ukm_segmentation.tsv",
        ukm_loss_comparison=f"{RESULTS}/tables/ukm_loss_comparison.tsv",
        ukm_classification=f"{RESULTS}/tables/ukm_classification.tsv",
        **{
            f"ukm_predictions_{method}": f"{UKM_CLASSIFIER_DIR}/test_predictions.tsv".format(
                method=method
            )
            for method in UKM_METHODS
        },
        ukm_unet_curves=f"{UKM_DIR}/unet_learning_curves.png",
        ukm_classifier_curves=f"{UKM_DIR}/classifier_learning_curves.png",
        ukm_panel=f"{UKM_DIR}/examples.png",
    )
