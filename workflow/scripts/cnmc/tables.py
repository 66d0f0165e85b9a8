"""Rule cnmc_tables: predictions -> Table 1 (TSV + HTML page), per-subject accuracy, learning curves."""

from leukoflow.cnmc.report_section import write_table_page
from leukoflow.cnmc.tables import write_tables
from leukoflow.data.manifest import read_source
from leukoflow.runtime import job


def main(smk, log):
    source = read_source(smk.input.source)
    write_tables(
        predictions_path=smk.input.predictions,
        split_path=smk.input.split,
        history_paths=list(smk.input.histories),
        source=source,
        n_boot=smk.params.tables["n_boot"],
        seed=smk.params.tables["seed"],
        method=smk.wildcards.method,
        deviations=[tuple(item) for item in smk.params.deviations],
        table_out=smk.output.table,
        subjects_out=smk.output.subjects,
        curves_out=smk.output.curves,
    )
    write_table_page(
        smk.output.table, smk.output.subjects, smk.input.split, source, smk.output.html, smk.wildcards.method
    )


job.run(snakemake, main)  # noqa: F821
