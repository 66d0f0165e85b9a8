"""Rule allidb2_filters: blind each last-layer filter; JS distances between filter maps."""

from leukoflow.allidb2.filters import filter_patch_set, write_filter_analysis
from leukoflow.data.manifest import read_source
from leukoflow.inference import load_exported
from leukoflow.runtime import job


def main(smk, log):
    cnn = smk.params.cnn
    patches, labels = filter_patch_set(list(smk.input.bags), smk.params.fold, smk.params.n_patches, cnn["seed"])
    synthetic = read_source(smk.input.source)["source"] == "synthetic"
    write_filter_analysis(
        model=load_exported(smk.input.model),
        patches=patches,
        labels=labels,
        input_size=cnn["input_size"],
        blinding_out=smk.output.blinding,
        blinding_png=smk.output.blinding_png,
        js_raw_png=smk.output.js_raw,
        js_sorted_png=smk.output.js_sorted,
        label=" [SYNTHETIC]" if synthetic else "",
    )


job.run(snakemake, main)  # noqa: F821
