"""Rule allidb1_table2: every slide's patches -> verdicts, Table II, cell-level metrics, HTML page."""

import pandas as pd

from leukoflow.allidb1.report_section import write_table2_page
from leukoflow.allidb1.table2 import write_table2
from leukoflow.data.manifest import read_manifest, read_source
from leukoflow.runtime import job


def main(smk, log):
    truth = None
    if smk.input.truth:
        truth = pd.read_csv(smk.input.truth[0], sep="\t", dtype={"image_id": str})
    source = read_source(smk.input.source)
    write_table2(
        manifest=read_manifest(smk.input.manifest),
        patch_paths=list(smk.input.patches),
        slides=list(smk.params.slides),
        settings=dict(smk.params.settings),
        source=source,
        truth=truth,
        verdicts_out=smk.output.verdicts,
        table_out=smk.output.table,
        cells_out=smk.output.cells,
        cells_per_slide_out=smk.output.cells_per_slide,
    )
    outputs = {
        "table2": smk.output.table,
        "slide_verdicts": smk.output.verdicts,
        "cells": smk.output.cells,
        "cells_per_slide": smk.output.cells_per_slide,
    }
    write_table2_page(outputs, source, smk.output.html)


job.run(snakemake, main)  # noqa: F821
