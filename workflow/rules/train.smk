# ALL-IDB2 training, one job per protocol and fold of Table I. One GPU per job when GPUs are on;
# resumable state lives under results/state (not a declared output, which Snakemake would
# delete when a job fails), so a killed job restarts from its last epoch.


rule train:
    input:
        bags=rules.augment.output.bags,
        index=rules.augment.output.index,
    output:
        model=f"{RESULTS}/allidb2/{{protocol}}/fold{{fold}}/model.pt",
        history=f"{RESULTS}/allidb2/{{protocol}}/fold{{fold}}/history.csv",
        predictions=f"{RESULTS}/allidb2/{{protocol}}/fold{{fold}}/test_predictions.tsv",
    log:
        f"{RESULTS}/logs/train/{{protocol}}_fold{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{protocol}}_fold{{fold}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        state_dir=f"{RESULTS}/state/allidb2/{{protocol}}/fold{{fold}}",
        cnn=CNN,
        compute=config["compute"],
        weights_cache=f"{RESULTS}/state/weights",
    script:
        f"{SCRIPTS}/train_fold.py"
