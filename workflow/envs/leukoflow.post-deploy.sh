#!/usr/bin/env bash
# Run by Snakemake inside a freshly created `leukoflow.yaml` env (`--sdm conda`): installs the
# leukoflow package itself, which the rules' scripts import. Snakemake runs this from its working
# directory; when that is not the leukoflow checkout, set LEUKOFLOW_SOURCE to the checkout.
set -euo pipefail
source="${LEUKOFLOW_SOURCE:-$(pwd)}"
if ! grep -qs '^name = "leukoflow"' "$source/pyproject.toml"; then
    echo "leukoflow post-deploy: $source is not a leukoflow checkout; set LEUKOFLOW_SOURCE to one" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation -e "$source"
