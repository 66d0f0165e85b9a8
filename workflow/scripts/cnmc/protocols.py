"""Rule cnmc_protocols: one method's predictions under the split by subject and the split by cell
-> the table that shows what a cell-random split hides."""

from leukoflow.cnmc.protocols import write_protocol_table
from leukoflow.data.manifest import read_source
from leukoflow.runtime import job


def main(smk, log):
    protocols = list(smk.params.protocols)  # the order of the expanded inputs
    write_protocol_table(
        predictions_paths=dict(zip(protocols, smk.input.predictions, strict=True)),
        split_paths=dict(zip(protocols, smk.input.splits, strict=True)),
        source=read_source(smk.input.source),
        method=smk.params.method,
        n_boot=smk.params.tables["n_boot"],
        seed=smk.params.tables["seed"],
        table_out=smk.output.table,
    )


job.run(snakemake, main)  # noqa: F821
