"""Rule allidb1_segment: heatmaps + eosin -> masks, centroids and the heatmaps' localisation."""

from leukoflow.allidb1.stages import run_segments
from leukoflow.core.io import read_tsv
from leukoflow.data.manifest import read_manifest
from leukoflow.runtime import job


def main(smk, log):
    truth = read_tsv(smk.input.truth[0], text_columns=("image_id",)) if smk.input.truth else None
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
