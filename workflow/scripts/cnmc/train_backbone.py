"""Rule cnmc_train_backbone: stage 1, model-A or model-B on its designed training set."""

from leukoflow.cnmc.train import train_backbone
from leukoflow.runtime import job


def main(smk, log):
    train_backbone(
        model=smk.wildcards.model,
        crops_path=smk.input.crops,
        subsets_path=smk.input.subsets,
        backbones=dict(smk.params.backbones),
        augment_settings=dict(smk.params.augment),
        compute=dict(smk.params.compute),
        threads=smk.threads,
        state_dir=smk.params.state_dir,
        weights_cache=smk.params.weights_cache,
        model_out=smk.output.model,
        history_out=smk.output.history,
    )


job.run(snakemake, main)  # noqa: F821
