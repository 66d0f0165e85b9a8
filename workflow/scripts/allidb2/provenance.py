"""Rule allidb2_provenance: locate every ALL-IDB2 crop in the ALL-IDB1 slides (NCC) -> table and summary."""

from leukoflow.allidb2.provenance import write_provenance
from leukoflow.runtime import job


def main(smk, log):
    write_provenance(
        crops_manifest=smk.input.crops,
        slides_manifest=smk.input.slides,
        settings=dict(smk.params.settings),
        table_out=smk.output.table,
        summary_out=smk.output.summary,
        truth_path=smk.input.truth[0] if smk.input.truth else None,
        workers=smk.threads,
    )


job.run(snakemake, main)  # noqa: F821
