"""Rule allidb1_cnn50: the 50x50 CNN on whole ALL-IDB1 images, leak-free folds -> accuracy table."""

from leukoflow.allidb1.cnn50 import run_cnn50
from leukoflow.allidb1.report_cnn50 import write_cnn50_page
from leukoflow.data.manifest import read_manifest, read_source
from leukoflow.runtime import job


def main(smk, log):
    source = read_source(smk.input.source)
    run_cnn50(
        manifest=read_manifest(smk.input.manifest),
        settings=dict(smk.params.settings),
        compute=dict(smk.params.compute),
        threads=smk.threads,
        state_root=smk.params.state_root,
        source=source,
        table_out=smk.output.table,
        predictions_out=smk.output.predictions,
    )
    write_cnn50_page(smk.output.table, smk.output.predictions, source, smk.output.html)


job.run(snakemake, main)  # noqa: F821
