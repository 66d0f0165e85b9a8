"""The package's layout rules (docs/design.md), checked on the source: dataset packages share data
through files only, the core knows no dataset, running a network needs no Lightning, no import
loops, no oversized modules, and the code is linted and formatted."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "leukoflow"
DATASET_PACKAGES = ("allidb2", "allidb1", "cnmc", "ukm")
MAX_LINES = 420  # "about 400": a module longer than this should be split


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, top_level_only: bool = False) -> set[str]:
    """Modules a file imports (absolute `leukoflow...` names); function-level imports too unless
    `top_level_only`."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.startswith("leukoflow")}


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("package", DATASET_PACKAGES)
def test_no_dataset_package_imports_another(package):
    others = [p for p in DATASET_PACKAGES if p != package]
    offenders = {
        f"{path.relative_to(REPO)} imports {name}"
        for path in (PACKAGE / package).rglob("*.py")
        for name in imported_modules(path)
        if any(name == f"leukoflow.{o}" or name.startswith(f"leukoflow.{o}.") for o in others)
    }
    assert not offenders, sorted(offenders)


def code_words(path: Path) -> str:
    """Identifiers and string constants of a module, docstrings and comments left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            words.append(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append(node.value)
    return " ".join(words).lower()


def test_the_core_knows_no_dataset():
    for path in (PACKAGE / "core").rglob("*.py"):
        outside = {n for n in imported_modules(path) if not n.startswith("leukoflow.core")}
        assert not outside, f"{path.relative_to(REPO)} imports {sorted(outside)}"
        words = code_words(path)
        for key in ("allidb", "all-idb", "cnmc", "c-nmc", "ukm"):
            assert key not in words, f"{path.relative_to(REPO)} names the dataset {key} in its code"


def test_running_a_network_imports_no_lightning():
    code = (
        "import sys, leukoflow.inference, leukoflow.core.device, leukoflow.nets.backbones; "
        "bad = [m for m in sys.modules if m.startswith(('pytorch_lightning', 'lightning'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_no_import_loops_at_module_level():
    modules = {module_name(p): p for p in SOURCES}
    graph = {
        name: {m for m in imported_modules(path, top_level_only=True) if m in modules and m != name}
        for name, path in modules.items()
    }
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for child in graph[node]:
            if state.get(child) == 1:
                raise AssertionError(" -> ".join([*trail, node, child]))
            if child not in state:
                visit(child, [*trail, node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_no_module_is_oversized():
    long = {str(p.relative_to(REPO)): n for p in SOURCES if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_python_code_is_linted_and_formatted():
    sources = ["leukoflow", "workflow/scripts", "tests", "benchmarks"]
    check = subprocess.run([tool("ruff"), "check", *sources], cwd=REPO, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-3000:]
    formatted = subprocess.run([tool("ruff"), "format", "--check", *sources], cwd=REPO, capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stdout[-3000:]


def test_rule_files_are_formatted():
    result = subprocess.run(
        [tool("snakefmt"), "--check", "workflow/Snakefile", "workflow/rules"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
