# ALL-IDB1 patch classification and slide verdicts (III-C, IV-A), filter analysis (IV-B, IV-C),
# and the 50x50 CNN baseline on whole images.


rule classify_patches:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        heatmap=rules.heatmap.output.heatmap,
        mask=rules.segment.output.mask,
        centroids=rules.segment.output.centroids,
        models=slide_models(),
        truth=allidb1_truth(),
    output:
        patches=f"{RESULTS}/allidb1/slides/{{slide}}/patches.tsv",
        panel=report(
            f"{RESULTS}/allidb1/slides/{{slide}}/panel.png",
            caption="../report/slide_panel.rst",
            category="5. ALL-IDB1 slides",
            labels={"slide": "{slide}"},
        ),
    log:
        f"{RESULTS}/logs/classify_patches/{{slide}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/classify_patches/{{slide}}.tsv"
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
        f"{SCRIPTS}/classify_patches.py"


rule slide_verdicts:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        source=f"{RESULTS}/manifests/allidb1.source.json",
        patches=expand(
            f"{RESULTS}/allidb1/slides/{{slide}}/patches.tsv", slide=ALLIDB1_SLIDES
        ),
        truth=allidb1_truth(),
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
        f"{RESULTS}/logs/slide_verdicts.log",
    benchmark:
        f"{RESULTS}/benchmarks/slide_verdicts.tsv"
    conda:
        ENV
    params:
        slides=ALLIDB1_SLIDES,
        settings=SLIDES,
        paper=PAPER["table2"],
    script:
        f"{SCRIPTS}/slide_verdicts.py"


rule filter_analysis:
    input:
        model=heatmap_model(),
        bags=expand(
            f"{RESULTS}/allidb2/{SLIDES['model_protocol']}/bags/bag{{bag}}.pt",
            bag=range(1, CNN["n_bags"] + 1),
        ),
        source=f"{RESULTS}/manifests/allidb2.source.json",
    output:
        blinding=f"{RESULTS}/allidb1/filters/blinding.tsv",
        blinding_png=report(
            f"{RESULTS}/allidb1/filters/blinding.png",
            caption="../report/filter_blinding.rst",
            category="6. Filter analysis",
            labels={"figure": "filter blinding"},
        ),
        js_raw=report(
            f"{RESULTS}/allidb1/filters/js_raw.png",
            caption="../report/filter_js.rst",
            category="6. Filter analysis",
            labels={"figure": "JS distances, filter order"},
        ),
        js_sorted=report(
            f"{RESULTS}/allidb1/filters/js_sorted.png",
            caption="../report/filter_js.rst",
            category="6. Filter analysis",
            labels={"figure": "JS distances, clustered order"},
        ),
    log:
        f"{RESULTS}/logs/filter_analysis.log",
    benchmark:
        f"{RESULTS}/benchmarks/filter_analysis.tsv"
    conda:
        ENV
    threads: THREADS
    params:
        fold=HEATMAP_FOLD,
        cnn=CNN,
        n_patches=config["filters"]["n_patches"],
    script:
        f"{SCRIPTS}/filter_analysis.py"


rule cnn50:
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
        f"{RESULTS}/logs/cnn50.log",
    benchmark:
        f"{RESULTS}/benchmarks/cnn50.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        settings=config["cnn50"],
        compute=config["compute"],
        state_root=f"{RESULTS}/state/cnn50",
        paper=PAPER["cnn50"],
    script:
        f"{SCRIPTS}/cnn50.py"
