"""Rule cnmc_crop: C-NMC manifest (+ unlabelled final-phase images from rejected.tsv) -> convex-hull
crops in one tensor file each, their index tables, and the before/after contact sheet."""

from leukoflow.cnmc.crop import crop_stage
from leukoflow.runtime import job


def main(smk, log):
    crop_stage(
        manifest_path=smk.input.manifest,
        rejected_path=smk.input.rejected,
        crop=dict(smk.params.crop),
        strict=smk.params.strict,
        threads=smk.threads,
        crops_out=smk.output.crops,
        index_out=smk.output.index,
        unlabelled_out=smk.output.unlabelled,
        unlabelled_index_out=smk.output.unlabelled_index,
        sheet_out=smk.output.sheet,
    )


job.run(snakemake, main)  # noqa: F821
