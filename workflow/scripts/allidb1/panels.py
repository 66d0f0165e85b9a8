"""Rule allidb1_panels: every slide's small images, patches and verdicts -> one panel per slide."""

from leukoflow.allidb1.panels import run_panels
from leukoflow.core.io import read_tsv
from leukoflow.data.manifest import read_manifest, read_source
from leukoflow.runtime import job


def main(smk, log):
    truth = read_tsv(smk.input.truth[0], text_columns=("image_id",)) if smk.input.truth else None
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
