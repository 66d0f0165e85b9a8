"""Rule allidb1_panels: every slide's small images, patches and verdicts -> one panel per slide."""

import pandas as pd

from leukoflow.allidb1.panels import run_panels
from leukoflow.data.manifest import read_manifest, read_source
from leukoflow.runtime import job


def main(smk, log):
    truth = pd.read_csv(smk.input.truth[0], sep="\t", dtype={"image_id": str}) if smk.input.truth else None
    slides = list(smk.params.slides)
    run_panels(
        manifest=read_manifest(smk.input.manifest),
        slides=slides,
        methods=list(smk.params.methods),
        thumbs_paths=smk.params.files["thumbs.npz"],
        patch_paths=smk.params.files["patches.tsv"],
        verdicts_path=smk.input.verdicts,
        truth=truth,
        outs=dict(zip(slides, smk.output.panels)),
        data_label=" [SYNTHETIC]" if read_source(smk.input.source)["source"] == "synthetic" else "",
    )


job.run(snakemake, main)  # noqa: F821
