"""Rule allidb2_train: one protocol x fold of Table I -> best model, learning curve, test predictions."""

from leukoflow.allidb2.train import train_fold
from leukoflow.runtime import job


def main(smk, log):
    train_fold(
        bag_paths=list(smk.input.bags),
        fold=int(smk.wildcards.fold),
        cnn=dict(smk.params.cnn),
        compute=dict(smk.params.compute),
        threads=smk.threads,
        state_dir=smk.params.state_dir,
        weights_cache=smk.params.weights_cache,
        model_out=smk.output.model,
        history_out=smk.output.history,
        predictions_out=smk.output.predictions,
        index_path=smk.input.index,
    )


job.run(snakemake, main)  # noqa: F821
