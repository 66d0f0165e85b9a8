"""Rule allidb1_table2: every method's patches -> verdicts, Table II, cell-level and heatmap tables."""

import pandas as pd

from leukoflow.allidb1.overlap import read_overlap_inputs, unseen_slides
from leukoflow.allidb1.report_section import write_table2_page
from leukoflow.allidb1.table2 import write_table2
from leukoflow.data.manifest import read_manifest, read_source
from leukoflow.runtime import job


def main(smk, log):
    truth = pd.read_csv(smk.input.truth[0], sep="\t", dtype={"image_id": str}) if smk.input.truth else None
    source = read_source(smk.input.source)
    files = smk.params.files
    unseen = None
    if smk.input.provenance:  # measured: which slide each ALL-IDB2 crop comes from
        provenance, bag_index = read_overlap_inputs(smk.input.provenance[0], smk.input.bag_index[0])
        slides = pd.DataFrame({"slide": list(smk.params.slides)})
        unseen = {
            method: unseen_slides(slides, provenance, bag_index, folds)
            for method, folds in smk.params.method_folds.items()
        }
    write_table2(
        manifest=read_manifest(smk.input.manifest),
        methods=list(smk.params.methods),
        patch_paths=files["patches.tsv"],
        localisation_paths=files["localisation.tsv"],
        histogram_paths=files["localisation.npz"],
        cell_sizes_path=smk.input.cell_sizes,
        slides=list(smk.params.slides),
        settings=dict(smk.params.settings),
        source=source,
        truth=truth,
        unseen=unseen,
        verdicts_out=smk.output.verdicts,
        table_out=smk.output.table,
        cells_out=smk.output.cells,
        cells_per_slide_out=smk.output.cells_per_slide,
        localisation_out=smk.output.localisation,
    )
    outputs = {
        "table2": smk.output.table,
        "slide_verdicts": smk.output.verdicts,
        "cells": smk.output.cells,
        "cells_per_slide": smk.output.cells_per_slide,
        "allidb1_localisation": smk.output.localisation,
        "allidb1_cell_sizes": smk.input.cell_sizes,
    }
    write_table2_page(outputs, source, smk.output.html)


job.run(snakemake, main)  # noqa: F821
