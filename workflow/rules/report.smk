# The HTML report: one self-contained page (figures embedded as data URIs) built from named
# inputs. A section appears only when its inputs are here; see leukoflow/report.py for the keys.


def report_inputs(wildcards):
    """Named inputs of rule report, for the datasets and protocols this config enables.

    To add a stage to the report: add its files under a new key here (and a renderer in
    leukoflow/report.py). Lists are fine (e.g. one file per fold).
    """
    inputs = {
        "sources": expand(
            f"{RESULTS}/manifests/{{dataset}}.source.json", dataset=DATASETS
        ),
        "summary_counts": f"{RESULTS}/summary/counts.tsv",
        "summary_sizes": f"{RESULTS}/summary/sizes.tsv",
        "summary_sheets": expand(
            f"{RESULTS}/summary/contact_{{dataset}}.png", dataset=DATASETS
        ),
        "summary_rejected": f"{RESULTS}/manifests/rejected.tsv",
    }
    if "allidb2" in DATASETS:
        for protocol in CNN["protocols"]:
            inputs[f"table1_{protocol}"] = f"{RESULTS}/tables/table1_{protocol}.tsv"
            inputs[f"curves_{protocol}"] = (
                f"{RESULTS}/allidb2/{protocol}/learning_curves.png"
            )
            inputs[f"predictions_{protocol}"] = expand(
                f"{RESULTS}/allidb2/{protocol}/fold{{fold}}/test_predictions.tsv",
                fold=CNN["folds"],
            )
    return inputs


rule report:
    input:
        unpack(report_inputs),
    output:
        html=report(
            f"{RESULTS}/report/index.html",
            category="1. leukoflow report",
            caption="../report/index_html.rst",
        ),
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv"
    conda:
        ENV
    params:
        config=config,
        paper=PAPER,
        workflow_dir=workflow.basedir,
        # Read at run time, not declared as inputs: benchmark files are no rule's output.
        benchmarks_dir=f"{RESULTS}/benchmarks",
        # This job's own benchmark is written after it ends: left out, even when a rerun finds one.
        own_benchmark=f"{RESULTS}/benchmarks/report.tsv",
    script:
        f"{SCRIPTS}/report.py"
