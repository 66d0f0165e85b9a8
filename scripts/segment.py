"""Rule segment: heatmap + eosin threshold -> WBC mask and its distance-cost centroids."""

from leukoflow import glue
from leukoflow.manifest import read_manifest
from leukoflow.slide_stage import run_segment


def main(smk, log):
    run_segment(
        manifest=read_manifest(smk.input.manifest),
        slide=smk.wildcards.slide,
        heatmap_path=smk.input.heatmap,
        settings=dict(smk.params.settings),
        mask_out=smk.output.mask,
        centroids_out=smk.output.centroids,
    )


glue.run(snakemake, main)  # noqa: F821
