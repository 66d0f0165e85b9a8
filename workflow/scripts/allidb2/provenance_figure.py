"""Rule allidb2_provenance_figure: a few ALL-IDB2 crops beside the ALL-IDB1 slide regions they matched."""

from leukoflow.allidb2.provenance import write_provenance_figure
from leukoflow.runtime import job


def main(smk, log):
    write_provenance_figure(
        table_path=smk.input.table,
        crops_manifest=smk.input.crops,
        slides_manifest=smk.input.slides,
        count=smk.params.n_crops,
        synthetic=smk.params.synthetic,
        figure_out=smk.output.figure,
    )


job.run(snakemake, main)  # noqa: F821
