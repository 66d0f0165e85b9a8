"""Rule screen_cells: a group of smears -> white cells, P(ALL), verdicts, overlays, GeoJSON."""

from leukoflow.bundle import load_bundle
from leukoflow.core.device import job_device
from leukoflow.runtime import job
from leukoflow.screen.files import pixel_sizes, read_screen_manifest
from leukoflow.screen.stage import screen_group


def main(smk, log):
    manifest = read_screen_manifest(smk.input.manifest)
    screen_group(
        manifest=manifest,
        images=list(smk.params.images),
        bundle=load_bundle(smk.input.bundle),
        settings=dict(smk.params.settings),
        pixel_sizes=pixel_sizes(smk.params.pixel_size_um, manifest),
        cells_out=smk.output.cells,
        images_out=smk.output.images,
        gallery_out=smk.output.gallery,
        files_dir=smk.output.files,
        device=job_device(smk.params.compute["accelerator"], smk.params.compute["allow_cpu_fallback"]),
    )


job.run(snakemake, main)  # noqa: F821
