# Data in: synthetic datasets (demo), manifests of every dataset, dataset summary.

# Where both ALL-IDB datasets are synthetic, ALL-IDB2 crops are cut from the ALL-IDB1 slides
# (with planted provenance), so the ALL-IDB2 synthesis reads the ALL-IDB1 one.
CROPS_FROM_SLIDES = (
    all(
        name in DATASETS and is_synthetic(config, name)
        for name in ("allidb1", "allidb2")
    )
    and config["synthetic"]["allidb2"]["from_slides"] > 0
)
SYNTHETIC_SLIDES = f"{RESULTS}/synthetic/allidb1"


rule data_synthesize:
    input:
        slides=lambda wildcards: (
            [f"{SYNTHETIC_SLIDES}/data", f"{SYNTHETIC_SLIDES}/truth.tsv"]
            if CROPS_FROM_SLIDES and wildcards.dataset == "allidb2"
            else []
        ),
    output:
        data=directory(f"{RESULTS}/synthetic/{{dataset}}/data"),
        truth=f"{RESULTS}/synthetic/{{dataset}}/truth.tsv",
    log:
        f"{LOGS}/data_synthesize/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/data_synthesize/{{dataset}}.tsv"
    conda:
        ENV
    params:
        settings=lambda wildcards: (
            {**config["synthetic"]["allidb2"], "slides": SYNTHETIC_SLIDES}
            if CROPS_FROM_SLIDES and wildcards.dataset == "allidb2"
            else config["synthetic"][wildcards.dataset]
        ),
        seed=config["synthetic"]["seed"],
    script:
        f"{SCRIPTS}/data/synthesize.py"


rule data_manifest:
    input:
        unpack(dataset_input),
    output:
        manifest=f"{RESULTS}/manifests/{{dataset}}.tsv",
        rejected=f"{RESULTS}/manifests/{{dataset}}.rejected.tsv",
        source=f"{RESULTS}/manifests/{{dataset}}.source.json",
    log:
        f"{LOGS}/data_manifest/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/data_manifest/{{dataset}}.tsv"
    conda:
        ENV
    threads: 2
    params:
        root=dataset_root,
        strict=lambda wildcards: config["datasets"][wildcards.dataset]["strict"],
        synthetic=lambda wildcards: is_synthetic(config, wildcards.dataset),
        synthetic_settings=lambda wildcards: (
            config["synthetic"][wildcards.dataset]
            if is_synthetic(config, wildcards.dataset)
            else None
        ),
        seed=config["synthetic"]["seed"],
    script:
        f"{SCRIPTS}/data/manifest.py"


rule data_summary:
    input:
        manifests=expand(f"{RESULTS}/manifests/{{dataset}}.tsv", dataset=DATASETS),
        rejected=expand(
            f"{RESULTS}/manifests/{{dataset}}.rejected.tsv", dataset=DATASETS
        ),
        sources=expand(f"{RESULTS}/manifests/{{dataset}}.source.json", dataset=DATASETS),
    output:
        html=f"{RESULTS}/summary/index.html",
        counts=f"{RESULTS}/summary/counts.tsv",
        sizes=f"{RESULTS}/summary/sizes.tsv",
        rejected=f"{RESULTS}/manifests/rejected.tsv",
        sheets=[
            report(
                f"{RESULTS}/summary/contact_{dataset}.png",
                caption="../report/contact_sheet.rst",
                category="2. Datasets",
                labels={"dataset": dataset},
            )
            for dataset in DATASETS
        ],
    log:
        f"{LOGS}/data_summary/summary.log",
    benchmark:
        f"{BENCHMARKS}/data_summary/summary.tsv"
    conda:
        ENV
    params:
        datasets=DATASETS,
        per_class=config["summary"]["contact_sheet_per_class"],
        thumbnail_px=config["summary"]["thumbnail_px"],
        seed=config["synthetic"]["seed"],
    script:
        f"{SCRIPTS}/data/summary.py"


REPORT_INPUTS.update(
    sources=expand(f"{RESULTS}/manifests/{{dataset}}.source.json", dataset=DATASETS),
    summary_counts=f"{RESULTS}/summary/counts.tsv",
    summary_sizes=f"{RESULTS}/summary/sizes.tsv",
    summary_sheets=expand(
        f"{RESULTS}/summary/contact_{{dataset}}.png", dataset=DATASETS
    ),
    summary_rejected=f"{RESULTS}/manifests/rejected.tsv",
)
