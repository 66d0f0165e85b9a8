# The HTML report: one self-contained page (figures embedded as data URIs) built from named
# inputs (`report_inputs()` in common.smk). A section appears only when its inputs are here; see
# leukoflow/report.py for the keys.


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
