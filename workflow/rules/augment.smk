# ALL-IDB2 augmentation and bags (Ghosh et al. 2017, III-A): 36 rotated/mirrored copies per
# crop, dealt into five bags by the chosen protocol.


rule augment:
    input:
        manifest=f"{RESULTS}/manifests/allidb2.tsv",
    output:
        bags=expand(
            f"{RESULTS}/allidb2/{{{{protocol}}}}/bags/bag{{bag}}.pt",
            bag=range(1, CNN["n_bags"] + 1),
        ),
        index=f"{RESULTS}/allidb2/{{protocol}}/bags/index.tsv",
    log:
        f"{RESULTS}/logs/augment/{{protocol}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/augment/{{protocol}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        angles=augment_angles(),
        mirror=CNN["mirror"],
        frame=CNN["frame"],
        input_size=CNN["input_size"],
        seed=CNN["seed"],
        compute=config["compute"],
    script:
        f"{SCRIPTS}/augment.py"
