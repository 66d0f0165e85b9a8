"""Rule cnmc_predict: evaluation cells and unlabelled final-phase images through model-A, model-B
and the combined model; the most confident model's label per cell."""

from leukoflow.cnmc.predict import predict_stage
from leukoflow.runtime import job


def main(smk, log):
    predict_stage(
        crops_path=smk.input.crops,
        subsets_path=smk.input.subsets,
        unlabelled_path=smk.input.unlabelled,
        unlabelled_index_path=smk.input.unlabelled_index,
        model_paths=list(smk.input.models),
        compute=dict(smk.params.compute),
        batch_size=smk.params.batch_size,
        predictions_out=smk.output.predictions,
        unlabelled_out=smk.output.unlabelled,
    )


job.run(snakemake, main)  # noqa: F821
