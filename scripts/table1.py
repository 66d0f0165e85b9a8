"""Rule table1: per-fold test predictions -> Table I (TSV + HTML) and learning curves."""

from leukoflow import glue
from leukoflow.manifest import read_source
from leukoflow.table1 import write_table1


def main(smk, log):
    write_table1(
        prediction_paths=list(smk.input.predictions),
        history_paths=list(smk.input.histories),
        folds=list(smk.params.folds),
        index_path=smk.input.index,
        source=read_source(smk.input.source),
        protocol=smk.wildcards.protocol,
        paper=smk.params.paper,
        table_out=smk.output.table,
        html_out=smk.output.html,
        curves_out=smk.output.curves,
    )


glue.run(snakemake, main)  # noqa: F821
