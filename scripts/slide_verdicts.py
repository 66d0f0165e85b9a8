"""Rule slide_verdicts: every slide's patches -> verdicts, Table II, cell-level metrics."""

import pandas as pd

from leukoflow import glue
from leukoflow.manifest import read_manifest, read_source
from leukoflow.table2 import write_table2


def main(smk, log):
    truth = None
    if smk.input.truth:
        truth = pd.read_csv(smk.input.truth[0], sep="\t", dtype={"image_id": str})
    write_table2(
        manifest=read_manifest(smk.input.manifest),
        patch_paths=list(smk.input.patches),
        slides=list(smk.params.slides),
        settings=dict(smk.params.settings),
        paper=smk.params.paper,
        source=read_source(smk.input.source),
        truth=truth,
        verdicts_out=smk.output.verdicts,
        table_out=smk.output.table,
        cells_out=smk.output.cells,
        cells_per_slide_out=smk.output.cells_per_slide,
        html_out=smk.output.html,
    )


glue.run(snakemake, main)  # noqa: F821
