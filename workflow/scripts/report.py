"""Rule report: every finished stage's tables and figures -> results/report/index.html."""

from leukoflow.report.compose import write_report
from leukoflow.runtime import job


def main(smk, log):
    write_report(
        # Named inputs only: the keys say which section each file feeds (see leukoflow/report.py).
        inputs={key: value for key, value in smk.input.items()},
        config=dict(smk.params.config),
        workflow_dir=smk.params.workflow_dir,
        benchmarks_dir=smk.params.benchmarks_dir,
        exclude_benchmarks=[smk.params.own_benchmark],
        html_out=smk.output.html,
    )


job.run(snakemake, main)  # noqa: F821
