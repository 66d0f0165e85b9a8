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
        table=report(
            f"{RESULTS}/tables/table1_{{protocol}}.tsv",
            caption="../report/table1.rst",
            category="3. ALL-IDB2 Table I",
            subcategory="{protocol}",
            labels={"protocol": "{protocol}", "result": "Table I"},
        ),
        html=f"{RESULTS}/tables/table1_{{protocol}}.html",
        curves=report(
            f"{RESULTS}/allidb2/{{protocol}}/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="3. ALL-IDB2 Table I",
            subcategory="{protocol}",
            labels={"protocol": "{protocol}", "result": "learning curves"},
        ),
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
