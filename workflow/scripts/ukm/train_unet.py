"""Rule ukm_train_unet: one cross-validation fold of the U-Net, with one loss -> model, history."""

from leukoflow.runtime import job
from leukoflow.ukm.train import train_unet


def main(smk, log):
    train_unet(
        images_path=smk.input.images,
        index_path=smk.input.index,
        fold=int(smk.wildcards.fold),
        loss=smk.wildcards.loss,
        unet=dict(smk.params.unet),
        augment=dict(smk.params.augment),
        compute=dict(smk.params.compute),
        threads=smk.threads,
        state_dir=smk.params.state_dir,
        model_out=smk.output.model,
        history_out=smk.output.history,
    )


job.run(snakemake, main)  # noqa: F821
