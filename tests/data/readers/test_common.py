"""Behaviour shared by every reader: roots, empty folders, manifest shape, strictness, hashing."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.core.io import read_rgb
from leukoflow.data.readers import DATASETS, MANIFEST_COLUMNS, REJECTED_COLUMNS, ScanResult, scan


def write_image(path: Path, width: int = 16, height: int = 16, seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    if path.suffix.lower() in (".tif", ".tiff"):
        tifffile.imwrite(path, rgb)
    else:
        Image.fromarray(rgb).save(path)
    return rgb


def test_dataset_names_match_design():
    assert set(DATASETS) == {"allidb1", "allidb2", "cnmc", "ukm"}


def test_unknown_dataset_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="'nope'"):
        scan("nope", tmp_path)


@pytest.mark.parametrize("dataset", DATASETS)
def test_missing_root_raises_naming_it(tmp_path, dataset):
    root = tmp_path / "not_there"
    with pytest.raises(DatasetError) as info:
        scan(dataset, root, strict=False)
    assert info.value.path == str(root)
    assert "does not exist" in str(info.value)


def test_root_that_is_a_file_raises(tmp_path):
    root = tmp_path / "file.txt"
    root.write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        scan("allidb2", root)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("strict", [True, False])
def test_empty_folder_raises_naming_root(tmp_path, dataset, strict):
    (tmp_path / "README.txt").write_text("nothing here")
    (tmp_path / "sub").mkdir()
    with pytest.raises(DatasetError) as info:
        scan(dataset, tmp_path, strict=strict)
    if dataset == "ukm" and strict:
        # In the UKM layout every folder under the root is a class: a stray one is named first.
        assert info.value.path == str(tmp_path / "sub") and "unknown class folder 'sub'" in str(info.value)
        return
    assert info.value.path == str(tmp_path)
    assert f"no {dataset} images found" in str(info.value)


def test_only_rejected_files_still_raises_naming_root(tmp_path):
    write_image(tmp_path / "not_a_name.tif")
    with pytest.raises(DatasetError) as info:
        scan("allidb2", tmp_path, strict=False)
    assert info.value.path == str(tmp_path)
    assert "1 files rejected" in str(info.value)


def _allidb2_folder(root: Path) -> dict[str, np.ndarray]:
    # Written out of id order and at different depths so sorting and recursion are exercised.
    return {
        "Im131_0": write_image(root / "b" / "Im131_0.tif", 12, 10, seed=1),
        "Im002_1": write_image(root / "Im002_1.tif", 16, 16, seed=2),
        "Im001_1": write_image(root / "a" / "deep" / "Im001_1.tif", 9, 14, seed=3),
    }


def test_manifest_columns_order_paths_and_hashes(tmp_path, monkeypatch):
    written = _allidb2_folder(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    result = scan("allidb2", "data")  # a relative root still gives absolute paths
    assert isinstance(result, ScanResult)
    manifest = result.manifest
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest["id"]) == sorted(written)
    assert list(manifest.index) == list(range(len(written)))
    for row in manifest.itertuples():
        assert os.path.isabs(row.path)
        assert Path(row.path).name == f"{row.id}.tif"
        assert row.sha256 == hashlib.sha256(Path(row.path).read_bytes()).hexdigest()
        assert (row.height, row.width) == written[row.id].shape[:2]
        np.testing.assert_array_equal(read_rgb(row.path), written[row.id])
    assert manifest["label"].dtype == np.int64
    assert manifest["n_annotations"].isna().all()
    assert tuple(result.rejected.columns) == REJECTED_COLUMNS
    assert result.rejected.empty


def test_manifest_is_the_same_for_any_worker_count(tmp_path):
    _allidb2_folder(tmp_path)
    one = scan("allidb2", tmp_path, workers=1).manifest
    many = scan("allidb2", tmp_path, workers=4).manifest
    pd.testing.assert_frame_equal(one, many)


def test_other_files_are_ignored_and_counted_at_debug(tmp_path, caplog):
    _allidb2_folder(tmp_path)
    (tmp_path / "README.md").write_text("readme")
    (tmp_path / "Thumbs.db").write_bytes(b"\0\1")
    (tmp_path / "notes.csv").write_text("a,b\n")
    caplog.set_level(logging.DEBUG, logger="leukoflow.data.readers")
    result = scan("allidb2", tmp_path)
    assert len(result.manifest) == 3
    assert any("ignoring 3 non-image files" in message for message in caplog.messages)


def test_image_extension_files_are_never_silently_dropped(tmp_path):
    _allidb2_folder(tmp_path)
    write_image(tmp_path / "holiday.png")
    with pytest.raises(DatasetError, match="holiday.png"):
        scan("allidb2", tmp_path)
    result = scan("allidb2", tmp_path, strict=False)
    assert list(result.rejected["path"]) == [str(tmp_path / "holiday.png")]
    assert len(result.manifest) == 3


def test_duplicate_id_strict_names_both_copies(tmp_path):
    write_image(tmp_path / "x" / "Im001_1.tif", seed=1)
    write_image(tmp_path / "y" / "Im001_1.tif", seed=2)
    write_image(tmp_path / "Im002_1.tif")
    with pytest.raises(DatasetError) as info:
        scan("allidb2", tmp_path)
    assert info.value.path == str(tmp_path / "y" / "Im001_1.tif")
    assert "duplicate id 'Im001_1'" in info.value.problem
    assert str(tmp_path / "x" / "Im001_1.tif") in info.value.problem


def test_duplicate_id_non_strict_rejects_every_copy(tmp_path, caplog):
    write_image(tmp_path / "x" / "Im001_1.tif", seed=1)
    write_image(tmp_path / "y" / "Im001_1.tif", seed=2)
    write_image(tmp_path / "Im002_1.tif")
    result = scan("allidb2", tmp_path, strict=False)
    assert list(result.manifest["id"]) == ["Im002_1"]
    assert sorted(result.rejected["path"]) == [
        str(tmp_path / "x" / "Im001_1.tif"),
        str(tmp_path / "y" / "Im001_1.tif"),
    ]
    assert result.rejected["problem"].str.contains("duplicate id").all()
    assert (result.rejected["dataset"] == "allidb2").all()
    assert any("2 files rejected" in message for message in caplog.messages)


def test_truncated_image_strict_and_non_strict(tmp_path):
    _allidb2_folder(tmp_path)
    bad = tmp_path / "Im003_1.tif"
    write_image(bad, 64, 64)
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(DatasetError) as info:
        scan("allidb2", tmp_path)
    assert info.value.path == str(bad)
    assert "unreadable or truncated" in info.value.problem
    result = scan("allidb2", tmp_path, strict=False)
    assert "Im003_1" not in set(result.manifest["id"])
    assert len(result.manifest) == 3
    assert list(result.rejected["path"]) == [str(bad)]


def test_symlinked_folders_are_followed_without_looping(tmp_path):
    real = tmp_path / "real"
    write_image(real / "Im005_0.tif")
    root = tmp_path / "root"
    write_image(root / "Im001_1.tif")
    (root / "linked").symlink_to(real, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    manifest = scan("allidb2", root).manifest
    assert list(manifest["id"]) == ["Im001_1", "Im005_0"]
    assert manifest["path"].iloc[1] == str(root / "linked" / "Im005_0.tif")


def test_broken_symlink_image_is_a_problem_not_dropped(tmp_path):
    write_image(tmp_path / "Im001_1.tif")
    dangling = tmp_path / "Im002_1.tif"
    dangling.symlink_to(tmp_path / "gone.tif")
    with pytest.raises(DatasetError) as info:
        scan("allidb2", tmp_path)
    assert info.value.path == str(dangling)
    result = scan("allidb2", tmp_path, strict=False)
    assert list(result.rejected["path"]) == [str(dangling)]
    assert list(result.manifest["id"]) == ["Im001_1"]


def test_byte_identical_images_under_two_ids_warn(tmp_path, caplog):
    write_image(tmp_path / "Im001_1.tif", seed=7)
    write_image(tmp_path / "Im002_1.tif", seed=7)
    write_image(tmp_path / "Im003_1.tif", seed=8)
    manifest = scan("allidb2", tmp_path).manifest
    assert len(manifest) == 3
    assert any("2 images are byte-identical to another image: Im001_1, Im002_1" in m for m in caplog.messages)
