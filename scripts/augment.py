"""Rule augment: ALL-IDB2 crops -> 36 rotated/mirrored copies each -> bag tensor files."""

import torch

from leukoflow import glue
from leukoflow.augmented_bags import build_augmented_bags


def main(smk, log):
    use_gpu = smk.params.accelerator != "cpu" and torch.cuda.is_available()
    build_augmented_bags(
        smk.input.manifest,
        list(smk.output.bags),
        smk.output.index,
        protocol=smk.wildcards.protocol,
        angles_deg=smk.params.angles,
        mirror=smk.params.mirror,
        frame=smk.params.frame,
        input_size=smk.params.input_size,
        seed=smk.params.seed,
        device="cuda" if use_gpu else "cpu",
    )


glue.run(snakemake, main)  # noqa: F821
