"""Rule data_manifest: check every file of one dataset and write its manifest table."""

from leukoflow.data.manifest import build_manifest
from leukoflow.runtime import job


def main(smk, log):
    build_manifest(
        dataset=smk.wildcards.dataset,
        root=smk.params.root,
        strict=smk.params.strict,
        synthetic=smk.params.synthetic,
        synthetic_settings=smk.params.synthetic_settings,
        seed=smk.params.seed,
        manifest_out=smk.output.manifest,
        rejected_out=smk.output.rejected,
        source_out=smk.output.source,
    )


job.run(snakemake, main)  # noqa: F821
