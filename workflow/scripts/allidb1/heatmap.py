"""Rule allidb1_heatmap: a group of slides -> each slide's mean conv excitation (working scale)."""

from leukoflow.allidb1.stages import run_heatmaps
from leukoflow.core.device import job_device
from leukoflow.data.manifest import read_manifest
from leukoflow.runtime import job


def main(smk, log):
    run_heatmaps(
        manifest=read_manifest(smk.input.manifest),
        slides=list(smk.params.slides),
        settings=dict(smk.params.settings),
        cnn=dict(smk.params.cnn),
        model_path=smk.input.model,
        cell_sizes_path=smk.input.cell_sizes,
        out=smk.output.heatmaps,
        device=job_device(smk.params.compute["accelerator"], smk.params.compute["allow_cpu_fallback"]),
    )


job.run(snakemake, main)  # noqa: F821
