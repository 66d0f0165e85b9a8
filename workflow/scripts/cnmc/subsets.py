"""Rule cnmc_subsets: crop index -> roles (train / val / test) and the bagging subsets A and B."""

from leukoflow.cnmc.subsets import subsets_stage
from leukoflow.runtime import job


def main(smk, log):
    subsets_stage(
        index_path=smk.input.index,
        split=dict(smk.params.split),
        subsets_out=smk.output.subsets,
        summary_out=smk.output.split,
    )


job.run(snakemake, main)  # noqa: F821
