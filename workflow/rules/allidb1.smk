# ALL-IDB1 whole slides (Ghosh, Singh & Sheet 2017, III-B, III-C, IV-A): the ALL-IDB2 network's
# mean conv excitation over each slide, HED eosin mask, distance-cost centroids, 257x257 patch
# verdicts, Table II and cell-level metrics; and the 50x50 CNN baseline on whole slides.
# Slide jobs fan out over slide ids found at parse time (no checkpoint).

from leukoflow.config import allidb1_slide_ids, slide_model_folds

SLIDES = config["allidb1"]["slides"]
ALLIDB1_SLIDES = allidb1_slide_ids(config) if is_enabled("allidb1") else []
SLIDE_MODEL_FOLDS, HEATMAP_FOLD = (
    slide_model_folds(config) if is_enabled("allidb1/slides") else ([], None)
)
SLIDE_PROTOCOL = SLIDES["model_protocol"]
SLIDE_MODELS = [
    ALLIDB2_MODEL.format(protocol=SLIDE_PROTOCOL, fold=fold)
    for fold in SLIDE_MODEL_FOLDS
]
HEATMAP_MODEL = ALLIDB2_MODEL.format(protocol=SLIDE_PROTOCOL, fold=HEATMAP_FOLD)
# The generator's truth (every white cell) when ALL-IDB1 is synthetic; nothing otherwise.
ALLIDB1_TRUTH = (
    [f"{RESULTS}/synthetic/allidb1/truth.tsv"]
    if is_synthetic(config, "allidb1")
    else []
)


rule allidb1_heatmap_polarity:
    input:
        model=HEATMAP_MODEL,
        bags=[bag.format(protocol=SLIDE_PROTOCOL) for bag in ALLIDB2_BAGS],
    output:
        polarity=f"{RESULTS}/allidb1/heatmap_polarity.json",
    log:
        f"{LOGS}/allidb1_heatmap_polarity/polarity.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_heatmap_polarity/polarity.tsv"
    conda:
        ENV
    threads: THREADS
    params:
        mode=SLIDES["heatmap_polarity"],
    script:
        f"{SCRIPTS}/allidb1/heatmap_polarity.py"


# One job per slide, one GPU per job when GPUs are on: the conv layers over the whole slide in
# one pass, averaged over filters.
rule allidb1_heatmap:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        model=HEATMAP_MODEL,
        polarity=rules.allidb1_heatmap_polarity.output.polarity,
    output:
        heatmap=f"{RESULTS}/allidb1/slides/{{slide}}/heatmap.npy",
    log:
        f"{LOGS}/allidb1_heatmap/{{slide}}.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_heatmap/{{slide}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        cnn=CNN,
        compute=config["compute"],
    script:
        f"{SCRIPTS}/allidb1/heatmap.py"


# Heatmap threshold AND eosin threshold -> white-cell mask -> distance-cost centroids.
rule allidb1_segment:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        heatmap=rules.allidb1_heatmap.output.heatmap,
    output:
        mask=f"{RESULTS}/allidb1/slides/{{slide}}/mask.png",
        centroids=f"{RESULTS}/allidb1/slides/{{slide}}/centroids.tsv",
    log:
        f"{LOGS}/allidb1_segment/{{slide}}.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_segment/{{slide}}.tsv"
    conda:
        ENV
    threads: 1
    params:
        settings=SLIDES,
    script:
        f"{SCRIPTS}/allidb1/segment.py"


# All 257x257 patches of a slide in one batch, scored by the mean of the folds' models.
rule allidb1_classify_patches:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        heatmap=rules.allidb1_heatmap.output.heatmap,
        mask=rules.allidb1_segment.output.mask,
        centroids=rules.allidb1_segment.output.centroids,
        models=SLIDE_MODELS,
        truth=ALLIDB1_TRUTH,
    output:
        patches=f"{RESULTS}/allidb1/slides/{{slide}}/patches.tsv",
        panel=report(
            f"{RESULTS}/allidb1/slides/{{slide}}/panel.png",
            caption="../report/slide_panel.rst",
            category="5. ALL-IDB1 slides",
            labels={"slide": "{slide}"},
        ),
    log:
        f"{LOGS}/allidb1_classify_patches/{{slide}}.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_classify_patches/{{slide}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        cnn=CNN,
        settings=SLIDES,
        synthetic=is_synthetic(config, "allidb1"),
        compute=config["compute"],
    script:
        f"{SCRIPTS}/allidb1/classify_patches.py"


# Slide verdicts (at least k abnormal patches), Table II, cell-level metrics against the .xyc.
rule allidb1_table2:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        source=f"{RESULTS}/manifests/allidb1.source.json",
        patches=expand(
            f"{RESULTS}/allidb1/slides/{{slide}}/patches.tsv", slide=ALLIDB1_SLIDES
        ),
        truth=ALLIDB1_TRUTH,
    output:
        verdicts=f"{RESULTS}/allidb1/slide_verdicts.tsv",
        table=report(
            f"{RESULTS}/tables/table2.tsv",
            caption="../report/table2.rst",
            category="4. ALL-IDB1 Table II",
            labels={"result": "Table II (TSV)"},
        ),
        cells=f"{RESULTS}/tables/allidb1_cells.tsv",
        cells_per_slide=f"{RESULTS}/allidb1/cells_per_slide.tsv",
        html=report(
            f"{RESULTS}/tables/table2.html",
            caption="../report/table2.rst",
            category="4. ALL-IDB1 Table II",
            labels={"result": "Table II and cell-level detection"},
        ),
    log:
        f"{LOGS}/allidb1_table2/table2.log",
    benchmark:
        f"{BENCHMARKS}/allidb1_table2/table2.tsv"
    conda:
        ENV
    params:
        slides=ALLIDB1_SLIDES,
        settings=SLIDES,
    script:
        f"{SCRIPTS}/allidb1/table2.py"


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
        settings=config["allidb1"]["cnn50"],
        compute=config["compute"],
        state_root=f"{RESULTS}/state/cnn50",
    script:
        f"{SCRIPTS}/allidb1/cnn50.py"


if is_enabled("allidb1/slides"):
    REPORT_INPUTS.update(
        table2=f"{RESULTS}/tables/table2.tsv",
        cells=f"{RESULTS}/tables/allidb1_cells.tsv",
        slide_verdicts=f"{RESULTS}/allidb1/slide_verdicts.tsv",
        cells_per_slide=f"{RESULTS}/allidb1/cells_per_slide.tsv",
    )
    # One key per slide: the report captions each panel with its slide id.
    for slide in ALLIDB1_SLIDES:
        REPORT_INPUTS[f"panel_{slide}"] = f"{RESULTS}/allidb1/slides/{slide}/panel.png"
if is_enabled("allidb1/cnn50"):
    REPORT_INPUTS.update(
        cnn50=f"{RESULTS}/tables/cnn50.tsv",
        cnn50_predictions=f"{RESULTS}/allidb1/cnn50/test_predictions.tsv",
    )
