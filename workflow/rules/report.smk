# The HTML report: one self-contained page (figures embedded as data URIs) built from the named
# outputs every rule file registers in REPORT_INPUTS (see leukoflow/report/compose.py).


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
        f"{LOGS}/report/report.log",
    benchmark:
        f"{BENCHMARKS}/report/report.tsv"
    conda:
        ENV
    params:
        config=config,
        workflow_dir=workflow.basedir,
        # Read at run time, not declared as inputs: benchmark files are no rule's output.
        benchmarks_dir=BENCHMARKS,
        # This job's own benchmark is written after it ends: left out, even when a rerun finds one.
        own_benchmark=f"{BENCHMARKS}/report/report.tsv",
    script:
        f"{SCRIPTS}/report.py"
