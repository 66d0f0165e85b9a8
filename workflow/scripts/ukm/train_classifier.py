"""Rule ukm_train_classifier: ROI crops of the 70 % training images -> one method's CNN, test predictions."""

from leukoflow.runtime import job
from leukoflow.ukm.train import train_classifier


def main(smk, log):
    train_classifier(
        crops_path=smk.input.crops,
        crops_index_path=smk.input.crops_index,
        classifier=dict(smk.params.classifier),
        switches=dict(smk.params.switches),
        augment=dict(smk.params.augment),
        compute=dict(smk.params.compute),
        threads=smk.threads,
        state_dir=smk.params.state_dir,
        model_out=smk.output.model,
        history_out=smk.output.history,
        predictions_out=smk.output.predictions,
    )


job.run(snakemake, main)  # noqa: F821
