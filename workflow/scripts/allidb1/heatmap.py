"""Rule heatmap: one ALL-IDB1 slide -> mean conv excitation map (working scale, float16)."""

import json

from leukoflow.allidb1.stages import run_heatmap
from leukoflow.core.device import job_device
from leukoflow.data.manifest import read_manifest
from leukoflow.runtime import job


def main(smk, log):
    run_heatmap(
        manifest=read_manifest(smk.input.manifest),
        slide=smk.wildcards.slide,
        model_path=smk.input.model,
        cnn=dict(smk.params.cnn),
        out=smk.output.heatmap,
        device=job_device(smk.params.compute["accelerator"], smk.params.compute["allow_cpu_fallback"]),
        polarity=json.loads(open(smk.input.polarity).read())["polarity"],
    )


job.run(snakemake, main)  # noqa: F821
