"""Rule screen_manifest: a folder of smears -> every image decoded, checked and hashed."""

from leukoflow.runtime import job
from leukoflow.screen.files import build_screen_manifest


def main(smk, log):
    build_screen_manifest(smk.params.root, smk.params.strict, smk.output.manifest, smk.output.rejected)


job.run(snakemake, main)  # noqa: F821
