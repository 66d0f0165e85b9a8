"""Rule heatmap_polarity: which side of the heatmap marks white cells, from ALL-IDB2 crops."""

import json

from leukoflow.allidb1.stages import excitation_polarity
from leukoflow.core.io import load_bags, write_text_atomic
from leukoflow.inference import load_exported
from leukoflow.runtime import job


def main(smk, log):
    crops, _, _ = load_bags(list(smk.input.bags), [1])
    result = excitation_polarity(load_exported(smk.input.model).features, crops)
    if smk.params.mode == "as_published":
        result["measured_polarity"], result["polarity"] = result["polarity"], 1
    result["mode"] = smk.params.mode
    log.info("heatmap polarity: %s", result)
    write_text_atomic(smk.output.polarity, json.dumps(result, indent=2) + "\n")


job.run(snakemake, main)  # noqa: F821
