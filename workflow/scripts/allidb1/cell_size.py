"""Rule allidb1_cell_size: a group of slides -> the typical white-cell diameter of each."""

from leukoflow.allidb1.stages import run_cell_sizes
from leukoflow.data.manifest import read_manifest
from leukoflow.runtime import job


def main(smk, log):
    run_cell_sizes(
        manifest=read_manifest(smk.input.manifest),
        slides=list(smk.params.slides),
        settings=dict(smk.params.settings),
        out=smk.output.cell_sizes,
    )


job.run(snakemake, main)  # noqa: F821
