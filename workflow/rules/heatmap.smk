# ALL-IDB1 heatmaps (Ghosh et al. 2017, III-B): the trained conv layers over the whole slide in
# one pass, averaged over filters. One job per slide, one GPU per job when GPUs are on.


rule heatmap:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        model=heatmap_model(),
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
        accelerator=config["compute"]["accelerator"],
    script:
        f"{SCRIPTS}/heatmap.py"
