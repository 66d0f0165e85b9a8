"""Rule data_synthesize: write one synthetic dataset in its real on-disk layout."""

from pathlib import Path

from leukoflow.data.synthetic import write_dataset
from leukoflow.runtime import job


def main(smk, log):
    out_dir = Path(smk.output.data).parent
    log.info(
        "writing synthetic %s to %s (seed %d): %s", smk.wildcards.dataset, out_dir, smk.params.seed, smk.params.settings
    )
    write_dataset(smk.wildcards.dataset, out_dir, dict(smk.params.settings), smk.params.seed)


job.run(snakemake, main)  # noqa: F821 (injected by Snakemake)
