"""ALL-IDB2 reader: single-cell TIFF crops, found recursively, sizes read not assumed."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from leukoflow.core.errors import DatasetError
from leukoflow.data.readers import MANIFEST_COLUMNS, scan


def write_tif(path: Path, width: int = 16, height: int = 16, seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    tifffile.imwrite(path, rgb)
    return rgb


def _crops(root: Path) -> dict[str, tuple[int, int]]:
    """Crops at several depths, including the real odd sizes 193x257 and 257x214."""
    sizes = {"Im001_1": (16, 16), "Im221_0": (193, 257), "Im238_0": (257, 214), "Im131_0": (12, 16)}
    write_tif(root / "ALL_IDB2" / "img" / "Im001_1.tif", *sizes["Im001_1"], seed=1)
    write_tif(root / "ALL_IDB2" / "img" / "Im221_0.tif", *sizes["Im221_0"], seed=2)
    write_tif(root / "Im238_0.TIF", *sizes["Im238_0"], seed=3)
    write_tif(root / "x" / "y" / "z" / "Im131_0.tiff", *sizes["Im131_0"], seed=4)
    return sizes


def test_recursive_scan_reads_every_size(tmp_path):
    sizes = _crops(tmp_path)
    result = scan("allidb2", tmp_path)
    manifest = result.manifest
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest["id"]) == sorted(sizes)
    for row in manifest.itertuples():
        assert (row.width, row.height) == sizes[row.id]
        assert row.label == int(row.id[-1])
        assert row.class_name == ("ALL" if row.label else "healthy")
        assert row.source_id == row.id
        assert row.split == "" and row.annotation == ""
        assert row.sha256 == hashlib.sha256(Path(row.path).read_bytes()).hexdigest()
    assert result.rejected.empty


def test_greyscale_and_rgba_tiffs_become_rgb_sizes(tmp_path, caplog):
    tifffile.imwrite(tmp_path / "Im001_1.tif", np.zeros((10, 7), np.uint8))
    tifffile.imwrite(tmp_path / "Im002_1.tif", np.zeros((9, 8, 4), np.uint8))
    manifest = scan("allidb2", tmp_path).manifest
    assert list(zip(manifest["width"], manifest["height"])) == [(7, 10), (8, 9)]
    # The greyscale crop is used, but not without a word naming it.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m for m in warnings if "greyscale image" in m] == [
        f"{tmp_path / 'Im001_1.tif'}: greyscale image (one channel) converted to RGB by repeating its channel"
    ]
    # ...and neither is the RGBA crop, whose alpha channel is dropped, when the manifest is built.
    assert [m for m in warnings if "alpha channel" in m] == [
        f"{tmp_path / 'Im002_1.tif'}: alpha channel dropped (the image is read as RGB; transparency is ignored)"
    ]


def test_an_oversized_crop_is_named_when_the_manifest_is_built(tmp_path, caplog):
    tifffile.imwrite(tmp_path / "Im003_1.tif", np.zeros((300, 257, 3), np.uint8))
    tifffile.imwrite(tmp_path / "Im004_1.tif", np.zeros((257, 257, 3), np.uint8))
    scan("allidb2", tmp_path)
    warnings = [r.getMessage() for r in caplog.records if "larger than the 257x257" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith(f"{tmp_path / 'Im003_1.tif'}: 257x300 crop")


def _bad_name(root: Path) -> Path:
    write_tif(root / "cell_1.tif")
    return root / "cell_1.tif"


def _bad_label(root: Path) -> Path:
    write_tif(root / "Im300_x.tif")
    return root / "Im300_x.tif"


def _bad_type(root: Path) -> Path:
    path = root / "Im300_1.jpg"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    return path


def _bad_truncated(root: Path) -> Path:
    path = root / "Im300_1.tif"
    write_tif(path, 64, 64)
    path.write_bytes(path.read_bytes()[:500])
    return path


def _bad_not_an_image(root: Path) -> Path:
    path = root / "Im300_1.tif"
    path.write_text("this is not a TIFF")
    return path


def _bad_16_bit(root: Path) -> Path:
    path = root / "Im300_1.tif"
    tifffile.imwrite(path, np.zeros((8, 8, 3), np.uint16))
    return path


def _bad_duplicate(root: Path) -> Path:
    write_tif(root / "zz_copy" / "Im001_1.tif")
    return root / "zz_copy" / "Im001_1.tif"


def _bad_relabelled(root: Path) -> Path:
    write_tif(root / "Im001_0.tif")  # Im001_1 exists: one cell, two labels
    return root / "ALL_IDB2" / "img" / "Im001_1.tif"


BAD_INPUTS = {
    "name does not parse": (_bad_name, "file name does not parse"),
    "label cannot be read": (_bad_label, "label 'x' cannot be read"),
    "wrong image type": (_bad_type, "unexpected image type '.jpg'"),
    "truncated": (_bad_truncated, "unreadable or truncated image"),
    "not an image": (_bad_not_an_image, "unreadable or truncated image"),
    "16-bit": (_bad_16_bit, "expected 8-bit channels"),
    "duplicate id": (_bad_duplicate, "duplicate id 'Im001_1'"),
    "number labelled twice": (_bad_relabelled, "Im001 is labelled ALL here and healthy in"),
}
# Ids a problem removes from the manifest besides the bad file's own (under strict=false).
ALSO_DROPPED = {"duplicate id": {"Im001_1"}, "number labelled twice": {"Im001_1", "Im001_0"}}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_strict(tmp_path, case):
    make_bad, fragment = BAD_INPUTS[case]
    _crops(tmp_path)
    bad = make_bad(tmp_path)
    with pytest.raises(DatasetError) as info:
        scan("allidb2", tmp_path)
    assert info.value.path == str(bad)
    assert fragment in info.value.problem


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_non_strict(tmp_path, case):
    make_bad, fragment = BAD_INPUTS[case]
    sizes = _crops(tmp_path)
    bad = make_bad(tmp_path)
    result = scan("allidb2", tmp_path, strict=False)
    rejected = result.rejected[result.rejected["path"] == str(bad)]
    assert len(rejected) == 1 and fragment in rejected["problem"].iloc[0]
    kept = set(sizes) - ALSO_DROPPED.get(case, set())
    assert set(result.manifest["id"]) == kept


def test_number_labelled_twice_names_both_files(tmp_path):
    _crops(tmp_path)
    write_tif(tmp_path / "more" / "Im1_0.tif")  # the same number, written without zeros
    with pytest.raises(DatasetError) as info:
        scan("allidb2", tmp_path)
    first, second = tmp_path / "ALL_IDB2" / "img" / "Im001_1.tif", tmp_path / "more" / "Im1_0.tif"
    assert str(info.value) == (
        f"{first}: Im001 is labelled ALL here and healthy in {second}; ALL-IDB numbers are unique "
        "across classes, so this is one image labelled twice"
    )
    rejected = scan("allidb2", tmp_path, strict=False).rejected
    assert sorted(rejected["path"]) == sorted([str(first), str(second)])


def test_same_number_same_label_is_only_a_duplicate_id(tmp_path):
    _crops(tmp_path)
    write_tif(tmp_path / "zz" / "Im001_1.tif")
    with pytest.raises(DatasetError, match="duplicate id 'Im001_1'"):
        scan("allidb2", tmp_path)
