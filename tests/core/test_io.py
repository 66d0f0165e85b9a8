"""Atomic writes and image decoding."""

import os
import stat

import numpy as np
import pytest
import tifffile
from PIL import Image

from leukoflow.core.errors import DatasetError
from leukoflow.core.io import atomic_path, read_mask, read_rgb, read_tsv, write_text_atomic


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


def colour_coded(height: int = 6, width: int = 5) -> np.ndarray:
    """The ALL-IDB2 mask coding: white background, blue cytoplasm, cyan nucleus."""
    rgb = np.full((height, width, 3), 255, np.uint8)
    rgb[1:5, 1:4] = (0, 0, 255)
    rgb[2:4, 2] = (0, 255, 255)
    return rgb


NUCLEUS = np.all(colour_coded() == (0, 255, 255), axis=2)


@pytest.mark.parametrize(
    "name, write",
    [
        ("m.tif", lambda path, rgb: tifffile.imwrite(path, rgb, photometric="rgb")),
        (
            "m.tiff",
            lambda path, rgb: tifffile.imwrite(
                path, np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate"
            ),
        ),
        ("m.TIF", lambda path, rgb: Image.fromarray(rgb).save(path, format="TIFF")),
        ("m.bmp", lambda path, rgb: Image.fromarray(rgb).save(path)),
        ("m.png", lambda path, rgb: Image.fromarray(rgb).quantize(colors=3).save(path)),  # palette image
        ("m_rgba.png", lambda path, rgb: Image.fromarray(rgb).convert("RGBA").save(path)),
    ],
)
def test_colour_coded_masks_in_lossless_formats(tmp_path, name, write):
    path = tmp_path / name
    write(path, colour_coded())
    mask = read_mask(path)
    assert mask.dtype == bool and mask.shape == (6, 5)
    assert (mask == NUCLEUS).all()


@pytest.mark.parametrize(
    "name, write",
    [
        ("b.tif", lambda path, m: tifffile.imwrite(path, m.astype(np.uint16) * 1000)),
        ("b.tiff", lambda path, m: tifffile.imwrite(path, m)),  # bool
        ("b.bmp", lambda path, m: Image.fromarray(m.astype(np.uint8) * 255).convert("1").save(path)),
        ("b_grey_rgb.bmp", lambda path, m: Image.fromarray(m.astype(np.uint8) * 255).convert("RGB").save(path)),
        ("b_la.png", lambda path, m: Image.fromarray(m.astype(np.uint8) * 200).convert("LA").save(path)),
    ],
)
def test_binary_masks_in_lossless_formats(tmp_path, name, write):
    truth = np.zeros((7, 9), bool)
    truth[2:5, 3:7] = True
    path = tmp_path / name
    write(path, truth)
    assert (read_mask(path) == truth).all()


def test_truncated_tiff_mask_names_the_file(tmp_path):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8), photometric="rgb")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DatasetError, match=r"m\.tif: unreadable or truncated mask"):
        read_mask(path)


def test_a_stack_is_not_a_mask(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((5, 8, 8), np.uint8))
    with pytest.raises(DatasetError, match=r"stack\.tif: expected a binary, grey or RGB mask"):
        read_mask(path)


def test_read_tsv_keeps_ids_as_text(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text("id\tsource_id\tsplit\tvalue\n001\tH6\t0\t1.5\n002\t11\t1\t2.5\n")
    table = read_tsv(path, text_columns=("split", "absent"))
    assert table["id"].tolist() == ["001", "002"] and table["source_id"].tolist() == ["H6", "11"]
    assert table["split"].tolist() == ["0", "1"] and table["value"].tolist() == [1.5, 2.5]
