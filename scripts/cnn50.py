"""Rule cnn50: the 50x50 CNN on whole ALL-IDB1 images, leak-free folds -> accuracy table."""

from leukoflow import glue
from leukoflow.cnn50_training import run_cnn50
from leukoflow.manifest import read_manifest, read_source


def main(smk, log):
    run_cnn50(
        manifest=read_manifest(smk.input.manifest),
        settings=dict(smk.params.settings),
        compute=dict(smk.params.compute),
        threads=smk.threads,
        state_root=smk.params.state_root,
        paper=smk.params.paper,
        source=read_source(smk.input.source),
        table_out=smk.output.table,
        predictions_out=smk.output.predictions,
        html_out=smk.output.html,
    )


glue.run(snakemake, main)  # noqa: F821
