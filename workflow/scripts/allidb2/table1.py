"""Rule allidb2_table1: per-fold test predictions -> Table I (TSV + HTML page) and learning curves."""

from leukoflow.allidb2.report_section import write_table1_page
from leukoflow.allidb2.table1 import write_table1
from leukoflow.data.manifest import read_source
from leukoflow.runtime import job


def main(smk, log):
    source = read_source(smk.input.source)
    write_table1(
        prediction_paths=list(smk.input.predictions),
        history_paths=list(smk.input.histories),
        folds=list(smk.params.folds),
        index_path=smk.input.index,
        source=source,
        protocol=smk.wildcards.protocol,
        table_out=smk.output.table,
        curves_out=smk.output.curves,
    )
    write_table1_page(smk.output.table, smk.wildcards.protocol, source, smk.output.html)


job.run(snakemake, main)  # noqa: F821
