"""Rule screen_synthesize: the demo's smears, plain names, no labels (truth kept beside)."""

from pathlib import Path

from leukoflow.data.synthetic import write_dataset
from leukoflow.runtime import job


def main(smk, log):
    write_dataset("screen", Path(smk.output.data).parent, dict(smk.params.settings), smk.params.seed)


job.run(snakemake, main)  # noqa: F821
