"""Rule allidb1_table2 as one call: read the run's files, which slides no model has seen, Table II
and the cell-level tables (`table2.write_table2`), and the stand-alone page of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from leukoflow.allidb1.overlap import read_overlap_inputs, unseen_slides
from leukoflow.allidb1.report_section import write_table2_page
from leukoflow.allidb1.table2 import write_table2
from leukoflow.core.io import read_tsv
from leukoflow.data.manifest import read_manifest, read_source


def run_table2(
    *,
    inputs: Mapping[str, Sequence[str] | str],
    files: Mapping[str, Sequence[str]],
    methods: Sequence[str],
    slides: Sequence[str],
    settings: Mapping,
    method_folds: Mapping[str, Sequence[int]],
    outputs: Mapping[str, str],
) -> None:
    """`inputs`: manifest, source, cell_sizes, and lists truth, provenance, bag_index (empty when
    absent); `outputs`: verdicts, table, cells, cells_per_slide, localisation, html."""
    truth = read_tsv(inputs["truth"][0], text_columns=("image_id",)) if inputs["truth"] else None
    source = read_source(inputs["source"])
    unseen = None
    if inputs["provenance"]:  # measured: which slide each ALL-IDB2 crop comes from
        provenance, bag_index = read_overlap_inputs(inputs["provenance"][0], inputs["bag_index"][0])
        table = pd.DataFrame({"slide": list(slides)})
        unseen = {method: unseen_slides(table, provenance, bag_index, folds) for method, folds in method_folds.items()}
    write_table2(
        manifest=read_manifest(inputs["manifest"]),
        methods=list(methods),
        patch_paths=files["patches.tsv"],
        localisation_paths=files["localisation.tsv"],
        histogram_paths=files["localisation.npz"],
        cell_sizes_path=inputs["cell_sizes"],
        slides=list(slides),
        settings=dict(settings),
        source=source,
        truth=truth,
        unseen=unseen,
        verdicts_out=outputs["verdicts"],
        table_out=outputs["table"],
        cells_out=outputs["cells"],
        cells_per_slide_out=outputs["cells_per_slide"],
        localisation_out=outputs["localisation"],
    )
    page_inputs = {
        "table2": outputs["table"],
        "slide_verdicts": outputs["verdicts"],
        "cells": outputs["cells"],
        "cells_per_slide": outputs["cells_per_slide"],
        "allidb1_localisation": outputs["localisation"],
        "allidb1_cell_sizes": inputs["cell_sizes"],
    }
    write_table2_page(page_inputs, source, outputs["html"])
