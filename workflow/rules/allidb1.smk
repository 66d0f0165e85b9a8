# ALL-IDB1 whole slides (Ghosh, Singh & Sheet 2017, III-B, III-C, IV-A): two slide methods side by
# side (`as_published` and `improved`, leukoflow/allidb1/methods.py): the ALL-IDB2 network's mean
# conv excitation over each slide, HED eosin mask, distance-cost centroids, 257x257 patch verdicts;
# Table II, cell-level metrics and heatmap localisation; and the 50x50 CNN baseline on whole slides.
# Slide jobs take groups of `group_size` slides (ids found at parse time, no checkpoint), so one
# process start, one model load and one decode per slide serve the whole group; heatmap,
# segmentation and patch classification stay separate rules.

from leukoflow.allidb1.methods import (
    CNN_KEYS,
    STEP_KEYS,
    method_settings,
    step_settings,
)
from leukoflow.config import allidb1_slide_ids, slide_model_folds

SLIDES = config["allidb1"]["slides"]
SLIDE_METHODS = SLIDES["methods"]
ALLIDB1_SLIDES = allidb1_slide_ids(config) if is_enabled("allidb1") else []
SLIDE_GROUPS = [
    ALLIDB1_SLIDES[start : start + SLIDES["group_size"]]
    for start in range(0, len(ALLIDB1_SLIDES), SLIDES["group_size"])
]
GROUPS = [str(number) for number in range(1, len(SLIDE_GROUPS) + 1)]
SLIDE_MODEL_FOLDS, HEATMAP_FOLD = (
    slide_model_folds(config) if is_enabled("allidb1/slides") else ([], None)
)
SLIDE_PROTOCOL = SLIDES["model_protocol"]
# The heatmap fold's network: the as-published method's only network, the improved one's heatmap.
HEATMAP_MODEL = ALLIDB2_MODEL.format(protocol=SLIDE_PROTOCOL, fold=HEATMAP_FOLD)
METHOD_MODELS = {
    method: (
        [
            ALLIDB2_MODEL.format(protocol=SLIDE_PROTOCOL, fold=fold)
            for fold in SLIDE_MODEL_FOLDS
        ]
        if method_settings(SLIDES, method)["fold_ensemble"]
        else [HEATMAP_MODEL]
    )
    for method in SLIDE_METHODS
}
# Every fold whose model a method used (scoring, and the heatmap's conv layers): Table II's row of
# slides none of them has seen, from the measured provenance of the ALL-IDB2 crops.
METHOD_FOLDS = {
    method: sorted(
        {HEATMAP_FOLD}
        | (
            set(SLIDE_MODEL_FOLDS)
            if method_settings(SLIDES, method)["fold_ensemble"]
            else set()
        )
    )
    for method in SLIDE_METHODS
}
UNSEEN_INPUTS = (
    {
        "provenance": [ALLIDB2_PROVENANCE],
        "bag_index": [ALLIDB2_BAG_INDEX.format(protocol=SLIDE_PROTOCOL)],
    }
    if is_enabled("allidb2/provenance")
    else {"provenance": [], "bag_index": []}
)
# The generator's truth (every white cell) when ALL-IDB1 is synthetic; nothing otherwise.
ALLIDB1_TRUTH = (
    [f"{RESULTS}/synthetic/allidb1/truth.tsv"]
    if is_synthetic(config, "allidb1")
    else []
)
CELL_SIZES = f"{RESULTS}/allidb1/cell_sizes.tsv"
GROUP_DIR = f"{RESULTS}/allidb1/{{method}}/group{{group}}"
# Per-method lists of every group's file of one step (table2 and panels read them all).
METHOD_FILES = {
    name: {
        method: expand(f"{GROUP_DIR}/{name}", method=method, group=GROUPS)
        for method in SLIDE_METHODS
    }
    for name in (
        "patches.tsv",
        "thumbs.npz",
        "localisation.tsv",
        "localisation.npz",
    )
}
SLIDE_PANEL = f"{RESULTS}/allidb1/panels/{{slide}}.png"


wildcard_constraints:
    group=r"\d+",


# The typical white-cell diameter of each slide (config, or estimated from its red cells, checked
# against the other slides of its resolution): the unit of the improved method's sizes and of the
# cell-level match radius. One job for every slide: the check needs them all.
rule allidb1_cell_size:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
    output:
        cell_sizes=CELL_SIZES,
    log:
        f"{LOGS}/allidb1_cell_size/cell_size.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_cell_size/cell_size.tsv"
    conda:
        ENV
    threads: 1
    params:
        slides=ALLIDB1_SLIDES,
        # Only what the estimate reads, so changing another slide setting does not redo it.
        settings={"cell_diameter_px": SLIDES["cell_diameter_px"]},
    script:
        f"{SCRIPTS}/allidb1/cell_size.py"


# One job per method and group of slides (one GPU per job when GPUs are on): the conv layers
# over each whole slide in one pass, averaged over filters.
rule allidb1_heatmap:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        model=HEATMAP_MODEL,
        cell_sizes=CELL_SIZES,
    output:
        heatmaps=f"{GROUP_DIR}/heatmaps.npz",
    log:
        f"{LOGS}/allidb1_heatmap/{{method}}_group{{group}}.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_heatmap/{{method}}_group{{group}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        slides=lambda wildcards: SLIDE_GROUPS[int(wildcards.group) - 1],
        settings=lambda wildcards: step_settings(SLIDES, wildcards.method, "heatmap"),
        cnn=only(CNN, CNN_KEYS["heatmap"]),
        compute=DEVICE,
    script:
        f"{SCRIPTS}/allidb1/heatmap.py"


# Heatmap threshold AND eosin threshold -> the method's clean-up -> centroids; the heatmap's
# localisation measured on each slide (against the .xyc blasts, and the generator's cells).
rule allidb1_segment:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        heatmaps=rules.allidb1_heatmap.output.heatmaps,
        cell_sizes=CELL_SIZES,
        truth=ALLIDB1_TRUTH,
    output:
        centroids=f"{GROUP_DIR}/centroids.tsv",
        thumbs=f"{GROUP_DIR}/thumbs.npz",
        localisation=f"{GROUP_DIR}/localisation.tsv",
        histograms=f"{GROUP_DIR}/localisation.npz",
    log:
        f"{LOGS}/allidb1_segment/{{method}}_group{{group}}.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_segment/{{method}}_group{{group}}.tsv"
    conda:
        ENV
    threads: 1
    params:
        slides=lambda wildcards: SLIDE_GROUPS[int(wildcards.group) - 1],
        settings=lambda wildcards: step_settings(SLIDES, wildcards.method, "segment"),
    script:
        f"{SCRIPTS}/allidb1/segment.py"


# The patch around every centroid, all patches of a slide in one batch, scored by the method's
# network(s): the heatmap fold's (as published) or the mean of the folds' (improved).
rule allidb1_classify_patches:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        centroids=rules.allidb1_segment.output.centroids,
        cell_sizes=CELL_SIZES,
        models=lambda wildcards: METHOD_MODELS[wildcards.method],
    output:
        patches=f"{GROUP_DIR}/patches.tsv",
    log:
        f"{LOGS}/allidb1_classify_patches/{{method}}_group{{group}}.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_classify_patches/{{method}}_group{{group}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        slides=lambda wildcards: SLIDE_GROUPS[int(wildcards.group) - 1],
        settings=lambda wildcards: step_settings(SLIDES, wildcards.method, "classify"),
        cnn=only(CNN, CNN_KEYS["classify"]),
        compute=DEVICE,
    script:
        f"{SCRIPTS}/allidb1/classify_patches.py"


# Slide verdicts (at least k abnormal patches), Table II, cell-level metrics against the .xyc and
# the heatmap's localisation pooled over slides, every method beside the paper.
rule allidb1_table2:
    input:
        **UNSEEN_INPUTS,
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        source=f"{RESULTS}/manifests/allidb1.source.json",
        patches=sum(METHOD_FILES["patches.tsv"].values(), []),
        localisation=sum(METHOD_FILES["localisation.tsv"].values(), []),
        histograms=sum(METHOD_FILES["localisation.npz"].values(), []),
        cell_sizes=CELL_SIZES,
        truth=ALLIDB1_TRUTH,
    output:
        verdicts=f"{RESULTS}/allidb1/slide_verdicts.tsv",
        table=report(
            f"{RESULTS}/tables/table2.tsv",
            caption="../report/table2.rst",
            category="5. ALL-IDB1 Table II",
            labels={"result": "Table II (TSV)"},
        ),
        cells=f"{RESULTS}/tables/allidb1_cells.tsv",
        cells_per_slide=f"{RESULTS}/allidb1/cells_per_slide.tsv",
        localisation=f"{RESULTS}/tables/allidb1_localisation.tsv",
        html=report(
            f"{RESULTS}/tables/table2.html",
            caption="../report/table2.rst",
            category="5. ALL-IDB1 Table II",
            labels={"result": "Table II and cell-level detection"},
        ),
    log:
        f"{LOGS}/allidb1_table2/table2.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_table2/table2.tsv"
    conda:
        ENV
    params:
        methods=SLIDE_METHODS,
        files=METHOD_FILES,
        slides=ALLIDB1_SLIDES,
        settings=only(SLIDES, STEP_KEYS["table2"]),
        method_folds=METHOD_FOLDS,
    script:
        f"{SCRIPTS}/allidb1/table2.py"


# Fig. 4/5 for every slide, one row per method, from the segmentation's small images.
rule allidb1_panels:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        source=f"{RESULTS}/manifests/allidb1.source.json",
        verdicts=rules.allidb1_table2.output.verdicts,
        thumbs=sum(METHOD_FILES["thumbs.npz"].values(), []),
        patches=sum(METHOD_FILES["patches.tsv"].values(), []),
        truth=ALLIDB1_TRUTH,
    output:
        panels=[
            report(
                SLIDE_PANEL.format(slide=slide),
                caption="../report/slide_panel.rst",
                category="6. ALL-IDB1 slides",
                labels={"slide": slide},
            )
            for slide in ALLIDB1_SLIDES
        ],
    log:
        f"{LOGS}/allidb1_panels/panels.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_panels/panels.tsv"
    conda:
        ENV
    params:
        methods=SLIDE_METHODS,
        files=METHOD_FILES,
        slides=ALLIDB1_SLIDES,
    script:
        f"{SCRIPTS}/allidb1/panels.py"


rule allidb1_cnn50:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        source=f"{RESULTS}/manifests/allidb1.source.json",
    output:
        table=report(
            f"{RESULTS}/tables/cnn50.tsv",
            caption="../report/cnn50.rst",
            category="7. ALL-IDB1 50x50 CNN",
            labels={"result": "accuracy per fold"},
        ),
        predictions=f"{RESULTS}/allidb1/cnn50/test_predictions.tsv",
        html=f"{RESULTS}/tables/cnn50.html",
    log:
        f"{LOGS}/allidb1_cnn50/cnn50.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_cnn50/cnn50.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        settings=only(
            config["allidb1"]["cnn50"],
            ("batch_size", "epochs", "folds", "lr", "optimizer", "seed"),
        ),
        compute=DEVICE,
        state_root=f"{RESULTS}/state/cnn50",
    script:
        f"{SCRIPTS}/allidb1/cnn50.py"


if is_enabled("allidb1/slides"):
    REPORT_INPUTS.update(
        table2=f"{RESULTS}/tables/table2.tsv",
        cells=f"{RESULTS}/tables/allidb1_cells.tsv",
        slide_verdicts=f"{RESULTS}/allidb1/slide_verdicts.tsv",
        cells_per_slide=f"{RESULTS}/allidb1/cells_per_slide.tsv",
        allidb1_localisation=f"{RESULTS}/tables/allidb1_localisation.tsv",
        allidb1_cell_sizes=CELL_SIZES,
    )
    # One key per slide: the report captions each panel with its slide id.
    for slide in ALLIDB1_SLIDES:
        REPORT_INPUTS[f"panel_{slide}"] = SLIDE_PANEL.format(slide=slide)
if is_enabled("allidb1/cnn50"):
    REPORT_INPUTS.update(
        cnn50=f"{RESULTS}/tables/cnn50.tsv",
        cnn50_predictions=f"{RESULTS}/allidb1/cnn50/test_predictions.tsv",
    )
