# leukoflow: detect and classify leukemic white blood cells, and regenerate the papers' tables.
#
# `snakemake --cores N` runs the demo on synthetic data (config/demo.yaml). For real data:
# `snakemake --cores N --configfile config/config.yaml` after setting the dataset roots there.
# A dataset whose root is null runs on synthetic data, labelled as such in every output.

import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The library sits next to this file: make it importable here and in every script job, even
# when it is not pip-installed (e.g. inside a per-rule conda environment).
sys.path.insert(0, workflow.basedir)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (workflow.basedir, os.environ.get("PYTHONPATH")) if p
)


configfile: "config/demo.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"


rule all:
    input:
        all_targets(),
    default_target: True
