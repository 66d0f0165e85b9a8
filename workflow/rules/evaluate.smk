# Tables of the papers, rebuilt from the per-fold predictions.


rule table1:
    input:
        predictions=expand(
            f"{RESULTS}/allidb2/{{{{protocol}}}}/fold{{fold}}/test_predictions.tsv",
            fold=CNN["folds"],
        ),
        histories=expand(
            f"{RESULTS}/allidb2/{{{{protocol}}}}/fold{{fold}}/history.csv",
            fold=CNN["folds"],
        ),
        index=rules.augment.output.index,
        source=f"{RESULTS}/manifests/allidb2.source.json",
    output:
        table=f"{RESULTS}/tables/table1_{{protocol}}.tsv",
        html=f"{RESULTS}/tables/table1_{{protocol}}.html",
        curves=f"{RESULTS}/allidb2/{{protocol}}/learning_curves.png",
    log:
        f"{RESULTS}/logs/table1/{{protocol}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/table1/{{protocol}}.tsv"
    conda:
        ENV
    params:
        folds=CNN["folds"],
        paper=PAPER["table1"],
    script:
        f"{SCRIPTS}/table1.py"
