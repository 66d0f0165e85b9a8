"""Rule segment: heatmap + eosin threshold -> WBC mask and its distance-cost centroids."""

from leukoflow.allidb1.stages import run_segment
from leukoflow.data.manifest import read_manifest
from leukoflow.runtime import job


def main(smk, log):
    run_segment(
        manifest=read_manifest(smk.input.manifest),
        slide=smk.wildcards.slide,
        heatmap_path=smk.input.heatmap,
        settings=dict(smk.params.settings),
        mask_out=smk.output.mask,
        centroids_out=smk.output.centroids,
    )


job.run(snakemake, main)  # noqa: F821
