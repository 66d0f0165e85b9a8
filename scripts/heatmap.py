"""Rule heatmap: one ALL-IDB1 slide -> mean conv excitation map (working scale, float16)."""

import json

import torch

from leukoflow import glue
from leukoflow.manifest import read_manifest
from leukoflow.slide_stage import run_heatmap


def main(smk, log):
    use_gpu = smk.params.accelerator != "cpu" and torch.cuda.is_available()
    run_heatmap(
        manifest=read_manifest(smk.input.manifest),
        slide=smk.wildcards.slide,
        model_path=smk.input.model,
        cnn=dict(smk.params.cnn),
        out=smk.output.heatmap,
        device="cuda" if use_gpu else "cpu",
        polarity=json.loads(open(smk.input.polarity).read())["polarity"],
    )


glue.run(snakemake, main)  # noqa: F821
