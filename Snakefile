# leukoflow: detect and classify leukemic white blood cells, and regenerate the papers' tables.
#
# `snakemake --cores N` runs the demo on synthetic data (config/demo.yaml). For real data:
# `snakemake --cores N --configfile config/config.yaml` after setting the dataset roots there.
# A dataset whose root is null runs on synthetic data, labelled as such in every output.

import sys

from snakemake.utils import min_version

min_version("9.0")

# The library sits next to this file: importable at parse time even when not pip-installed.
# Script jobs import the installed package (`make install` / `pip install -e .`).
sys.path.insert(0, workflow.basedir)


configfile: "config/demo.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/augment.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/heatmap.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
