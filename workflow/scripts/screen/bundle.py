"""Rule screen_bundle: this run's fold models + statistics of their training crops -> results/models."""

import yaml

from leukoflow.core.device import job_device
from leukoflow.data.manifest import read_manifest, read_source
from leukoflow.runtime import job
from leukoflow.screen.bundle_build import build_bundle


def main(smk, log):
    params = smk.params
    build_bundle(
        manifest=read_manifest(smk.input.manifest),
        model_paths=list(smk.input.models),
        folds=list(params.folds),
        table1_path=smk.input.table1,
        settings={
            "protocol": params.protocol,
            "frame": params.frame,
            "input_size": params.input_size,
            "crop_cell_fraction": params.crop_cell_fraction,
        },
        data_label=read_source(smk.input.source)["source"],
        config_text=yaml.safe_dump({"allidb2": {"cnn": dict(params.training)}, "protocol": params.protocol}),
        out_dir=smk.output.bundle,
        device=job_device(params.compute["accelerator"], params.compute["allow_cpu_fallback"]),
    )


job.run(snakemake, main)  # noqa: F821
