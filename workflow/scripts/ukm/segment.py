"""Rule ukm_segment: every image through its held-out fold's U-Net -> opening, crops, pixel counts."""

from leukoflow.core.device import job_device
from leukoflow.runtime import job
from leukoflow.ukm.segment import segment_dataset


def main(smk, log):
    settings, compute = smk.params.segment, smk.params.compute
    segment_dataset(
        images_path=smk.input.images,
        index_path=smk.input.index,
        models=dict(zip(smk.params.runs, smk.input.models)),
        main_loss=smk.params.main_loss,
        threshold=settings["threshold"],
        opening=settings["opening"],
        min_area=settings["min_area"],
        crop_size=settings["crop_size"],
        crop_source=smk.params.crop_source,
        examples_per_class=settings["examples_per_class"],
        device=job_device(compute["accelerator"], compute["allow_cpu_fallback"]),
        batch_size=settings["batch_size"],
        counts_out=smk.output.counts,
        crops_out=smk.output.crops,
        crops_index_out=smk.output.crops_index,
        examples_out=smk.output.examples,
    )


job.run(snakemake, main)  # noqa: F821
