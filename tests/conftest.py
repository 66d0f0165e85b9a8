import shutil
from pathlib import Path

import pytest

from tests.helpers import REPO


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory holding the repository's config files."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    shutil.copytree(REPO / "tests" / "configs", tmp_path / "test_configs")
    return tmp_path


def pytest_collection_modifyitems(items):
    """A test reading the tiny workflow run (fixture `tiny_run`, minutes to build) is slow whether or
    not it says so, so `-m "not slow"` never starts the run."""
    for item in items:
        if "tiny_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
