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
