"""Rule allidb1_classify_patches: a group of slides' centroids -> P(ALL) of each patch."""

from leukoflow.allidb1.stages import run_classify
from leukoflow.core.device import job_device
from leukoflow.data.manifest import read_manifest
from leukoflow.runtime import job


def main(smk, log):
    run_classify(
        manifest=read_manifest(smk.input.manifest),
        slides=list(smk.params.slides),
        settings=dict(smk.params.settings),
        cnn=dict(smk.params.cnn),
        centroids_path=smk.input.centroids,
        cell_sizes_path=smk.input.cell_sizes,
        model_paths=list(smk.input.models),
        patches_out=smk.output.patches,
        device=job_device(smk.params.compute["accelerator"], smk.params.compute["allow_cpu_fallback"]),
    )


job.run(snakemake, main)  # noqa: F821
