# ALL-IDB1 heatmaps (Ghosh et al. 2017, III-B): the trained conv layers over the whole slide in
# one pass, averaged over filters. One job per slide, one GPU per job when GPUs are on.


rule heatmap_polarity:
    input:
        model=heatmap_model(),
        bags=expand(
            f"{RESULTS}/allidb2/{SLIDES['model_protocol']}/bags/bag{{bag}}.pt",
            bag=range(1, CNN["n_bags"] + 1),
        ),
    output:
        polarity=f"{RESULTS}/allidb1/heatmap_polarity.json",
    log:
        f"{RESULTS}/logs/heatmap_polarity.log",
    benchmark:
        f"{RESULTS}/benchmarks/heatmap_polarity.tsv"
    conda:
        ENV
    threads: THREADS
    params:
        mode=SLIDES["heatmap_polarity"],
    script:
        f"{SCRIPTS}/heatmap_polarity.py"


rule heatmap:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        model=heatmap_model(),
        polarity=rules.heatmap_polarity.output.polarity,
    output:
        heatmap=f"{RESULTS}/allidb1/slides/{{slide}}/heatmap.npy",
    log:
        f"{RESULTS}/logs/heatmap/{{slide}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/heatmap/{{slide}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        cnn=CNN,
        compute=config["compute"],
    script:
        f"{SCRIPTS}/heatmap.py"
