"""Rule screen_report: every group's results -> results/screen/ tables, overlays, GeoJSON, page."""

from leukoflow.bundle import load_bundle
from leukoflow.runtime import job
from leukoflow.screen.page import write_screen_outputs


def main(smk, log):
    write_screen_outputs(
        cells_paths=list(smk.input.cells),
        images_paths=list(smk.input.images),
        gallery_paths=list(smk.input.gallery),
        files_dirs=list(smk.input.files),
        bundle=load_bundle(smk.input.bundle),
        images_synthetic=bool(smk.params.synthetic),
        root=smk.params.root,
        threshold=float(smk.params.threshold),
        cells_out=smk.output.cells,
        images_out=smk.output.images,
        overlays_out=smk.output.overlays,
        geojson_out=smk.output.geojson,
        html_out=smk.output.html,
    )


job.run(snakemake, main)  # noqa: F821
