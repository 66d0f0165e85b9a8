"""Rule classify_patches: all 257x257 patches of one slide in one batch -> P(ALL), figure panel."""

import pandas as pd

from leukoflow.allidb1.stages import run_classify
from leukoflow.core.device import job_device
from leukoflow.data.manifest import read_manifest
from leukoflow.runtime import job


def main(smk, log):
    slide = smk.wildcards.slide
    truth_xy = None
    if smk.input.truth:  # synthetic: mark the planted blasts on the panel
        truth = pd.read_csv(smk.input.truth[0], sep="\t", dtype={"image_id": str})
        truth_xy = truth.loc[(truth["image_id"] == slide) & (truth["is_blast"] == 1), ["x", "y"]].to_numpy()
    run_classify(
        manifest=read_manifest(smk.input.manifest),
        slide=slide,
        heatmap_path=smk.input.heatmap,
        mask_path=smk.input.mask,
        centroids_path=smk.input.centroids,
        model_paths=list(smk.input.models),
        cnn=dict(smk.params.cnn),
        settings=dict(smk.params.settings),
        patches_out=smk.output.patches,
        panel_out=smk.output.panel,
        truth_xy=truth_xy,
        data_label=" [SYNTHETIC]" if smk.params.synthetic else "",
        device=job_device(smk.params.compute["accelerator"], smk.params.compute["allow_cpu_fallback"]),
    )


job.run(snakemake, main)  # noqa: F821
