# Two entry points for a fresh machine (see README):
#   make run    create .venv, install, run the default workflow (synthetic demo)
#   make test   create .venv, install, install the tests' system packages, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# The CPU build that lies on this kind of machine. On a GPU workstation pass your CUDA build,
# e.g. `make run TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"`.
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install run test lint format report screen clean-results

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev,slurm]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/snakemake --cores $(CORES)

# tests/system-packages.sh installs the Debian packages of the browser and SLURM tests when missing
# (root, apt-get) before pytest starts, and prints the skip variables of what cannot be had here.
test: install
	@skips="$$(tests/system-packages.sh)" && \
	echo "$(BIN)/python -m pytest -q -n 2 --durations=15 $(PYTEST_ARGS)$${skips:+  (with $$skips)}" && \
	env $$skips $(BIN)/python -m pytest -q -n 2 --durations=15 $(PYTEST_ARGS)

PY_SOURCES := leukoflow workflow/scripts tests benchmarks

lint: install
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/snakefmt --check workflow/Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1

format: install
	$(BIN)/ruff check --fix $(PY_SOURCES)
	$(BIN)/ruff format $(PY_SOURCES)
	$(BIN)/snakefmt workflow/Snakefile workflow/rules

# Screen a folder of smears: `make screen ROOT=/path` with this checkout's models (after `make run`),
# or `make screen ROOT=/path MODELS=/path/to/bundle` with a copied bundle alone (docs/screen.md).
ROOT ?=
MODELS ?=
screen: install
	@test -n "$(ROOT)" || { echo "make screen ROOT=/path/to/smears [MODELS=/path/to/bundle]"; exit 2; }
	$(BIN)/snakemake --cores $(CORES) screen_all $(if $(MODELS),--configfile config/screen.yaml) \
		--config 'screen={enabled: true, root: $(abspath $(ROOT))$(if $(MODELS),$(comma) models: $(abspath $(MODELS)))}'

comma := ,

report: install
	$(BIN)/snakemake --cores $(CORES) --report results/snakemake-report.html

clean-results:
	rm -rf results .snakemake
