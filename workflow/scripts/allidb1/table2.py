"""Rule allidb1_table2: every method's patches -> verdicts, Table II, cell-level and heatmap tables."""

from leukoflow.allidb1.table2_stage import run_table2
from leukoflow.runtime import job


def main(smk, log):
    run_table2(
        inputs={
            "manifest": smk.input.manifest,
            "source": smk.input.source,
            "cell_sizes": smk.input.cell_sizes,
            "truth": list(smk.input.truth),
            "provenance": list(smk.input.provenance),
            "bag_index": list(smk.input.bag_index),
        },
        files=smk.params.files,
        methods=list(smk.params.methods),
        slides=list(smk.params.slides),
        settings=dict(smk.params.settings),
        method_folds=dict(smk.params.method_folds),
        outputs={
            key: smk.output[key] for key in ("verdicts", "table", "cells", "cells_per_slide", "localisation", "html")
        },
    )


job.run(snakemake, main)  # noqa: F821
