"""Rule data_summary: counts per class and split, image sizes, contact sheets, one HTML page."""

from leukoflow.data.summary import write_summary
from leukoflow.runtime import job


def main(smk, log):
    write_summary(
        datasets=list(smk.params.datasets),
        manifests=list(smk.input.manifests),
        rejected=list(smk.input.rejected),
        sources=list(smk.input.sources),
        html_out=smk.output.html,
        counts_out=smk.output.counts,
        sizes_out=smk.output.sizes,
        rejected_out=smk.output.rejected,
        sheet_outs=list(smk.output.sheets),
        per_class=smk.params.per_class,
        thumbnail_px=smk.params.thumbnail_px,
        seed=smk.params.seed,
    )


job.run(snakemake, main)  # noqa: F821
