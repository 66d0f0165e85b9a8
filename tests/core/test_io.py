"""Atomic writes and image decoding."""

import os
import stat

import numpy as np
import pytest
from PIL import Image

from leukoflow.core.errors import DatasetError
from leukoflow.core.io import atomic_path, read_mask, read_rgb, write_text_atomic


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_write_has_umask_mode(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_truncated_jpeg_names_the_file(tmp_path):
    path = tmp_path / "Im001_1.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DatasetError, match=r"Im001_1\.jpg: unreadable or truncated"):
        read_rgb(path)


def test_colour_coded_mask(tmp_path):
    rgb = np.full((4, 4, 3), 255, np.uint8)
    rgb[1, 1] = (0, 255, 255)  # nucleus
    rgb[2, 2] = (0, 0, 255)  # cytoplasm
    Image.fromarray(rgb).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.sum() == 1 and mask[1, 1]
