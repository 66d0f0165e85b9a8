"""Rule allidb2_augment: ALL-IDB2 crops -> 36 rotated/mirrored copies each -> bag tensor files."""

from leukoflow.allidb2.bags import build_augmented_bags
from leukoflow.core.device import job_device
from leukoflow.runtime import job


def main(smk, log):
    build_augmented_bags(
        smk.input.manifest,
        list(smk.output.bags),
        smk.output.index,
        protocol=smk.wildcards.protocol,
        angles_deg=smk.params.angles,
        mirror=smk.params.mirror,
        frame=smk.params.frame,
        input_size=smk.params.input_size,
        seed=smk.params.seed,
        device=job_device(smk.params.compute["accelerator"], smk.params.compute["allow_cpu_fallback"]),
        provenance_path=smk.input.provenance[0] if smk.input.get("provenance") else None,
    )


job.run(snakemake, main)  # noqa: F821
