"""Rule cnmc_train_combined: stage 2, the combined model on every training cell, class-weighted."""

from leukoflow.cnmc.train import train_combined
from leukoflow.runtime import job


def main(smk, log):
    train_combined(
        crops_path=smk.input.crops,
        subsets_path=smk.input.subsets,
        model_a=smk.input.model_a,
        model_b=smk.input.model_b,
        combined=dict(smk.params.combined),
        compute=dict(smk.params.compute),
        threads=smk.threads,
        state_dir=smk.params.state_dir,
        model_out=smk.output.model,
        history_out=smk.output.history,
    )


job.run(snakemake, main)  # noqa: F821
