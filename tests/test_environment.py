"""The conda environment of the rules: complete against pyproject.toml, and it installs leukoflow."""

import re
import subprocess

import tomllib
import yaml

from tests.helpers import REPO

ENVS = REPO / "workflow" / "envs"
CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base", "snakemake": "snakemake-minimal"}


def names(requirements):
    return {re.split(r"[<>=!\s\[]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_rule_env_lists_every_runtime_dependency():
    env = yaml.safe_load((ENVS / "leukoflow.yaml").read_text())
    conda = {
        str(d).split("=")[0].split("<")[0].split(">")[0].lower() for d in env["dependencies"] if isinstance(d, str)
    }
    pip = names(next(d["pip"] for d in env["dependencies"] if isinstance(d, dict)))
    required = names(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    missing = {name for name in required if CONDA_NAMES.get(name, name) not in conda | pip}
    assert not missing, missing


def test_the_post_deploy_script_installs_the_checkout_or_says_why_not(tmp_path):
    script = ENVS / "leukoflow.post-deploy.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    refused = subprocess.run(["bash", str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode != 0 and "not a leukoflow checkout" in refused.stderr
    assert "pip install --no-deps --no-build-isolation -e" in script.read_text()
