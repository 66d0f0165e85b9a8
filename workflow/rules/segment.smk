# ALL-IDB1 segmentation (III-B, III-C): heatmap threshold AND eosin threshold -> WBC mask ->
# distance-cost centroids.


rule segment:
    input:
        manifest=f"{RESULTS}/manifests/allidb1.tsv",
        heatmap=rules.heatmap.output.heatmap,
    output:
        mask=f"{RESULTS}/allidb1/slides/{{slide}}/mask.png",
        centroids=f"{RESULTS}/allidb1/slides/{{slide}}/centroids.tsv",
    log:
        f"{RESULTS}/logs/segment/{{slide}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/segment/{{slide}}.tsv"
    conda:
        ENV
    threads: 1
    params:
        settings=SLIDES,
    script:
        f"{SCRIPTS}/segment.py"
