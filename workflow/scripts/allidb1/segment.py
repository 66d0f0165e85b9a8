"""Rule allidb1_segment: heatmaps + eosin -> masks, centroids and the heatmaps' localisation."""

import pandas as pd

from leukoflow.allidb1.stages import run_segments
from leukoflow.data.manifest import read_manifest
from leukoflow.runtime import job


def main(smk, log):
    truth = pd.read_csv(smk.input.truth[0], sep="\t", dtype={"image_id": str}) if smk.input.truth else None
    run_segments(
        manifest=read_manifest(smk.input.manifest),
        slides=list(smk.params.slides),
        settings=dict(smk.params.settings),
        heatmaps_path=smk.input.heatmaps,
        cell_sizes_path=smk.input.cell_sizes,
        truth=truth,
        centroids_out=smk.output.centroids,
        thumbs_out=smk.output.thumbs,
        localisation_out=smk.output.localisation,
        histograms_out=smk.output.histograms,
    )


job.run(snakemake, main)  # noqa: F821
