"""Rule heatmap: one ALL-IDB1 slide -> mean conv excitation map (working scale, float16)."""

import json

from leukoflow import glue
from leukoflow.manifest import read_manifest
from leukoflow.slide_stage import run_heatmap
from leukoflow.training import job_device


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


glue.run(snakemake, main)  # noqa: F821
