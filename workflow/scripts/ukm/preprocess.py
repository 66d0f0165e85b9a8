"""Rule ukm_preprocess: UKM manifest -> grey + CLAHE images, masks and RGB copies in one tensor file."""

from leukoflow.runtime import job
from leukoflow.ukm.preprocess import preprocess_dataset


def main(smk, log):
    settings = smk.params.preprocess
    preprocess_dataset(
        manifest_path=smk.input.manifest,
        images_out=smk.output.images,
        index_out=smk.output.index,
        size=settings["size"],
        clip_limit=settings["clahe_clip_limit"],
        kernel_size=settings["clahe_kernel_size"],
        folds=smk.params.folds,
        test_fraction=smk.params.test_fraction,
        seed=settings["seed"],
        threads=smk.threads,
    )


job.run(snakemake, main)  # noqa: F821
