"""ALL-IDB1 reader: slide JPEGs plus .xyc centroid files, in both accepted layouts."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leukoflow.core.errors import DatasetError
from leukoflow.data.readers import MANIFEST_COLUMNS, read_xyc, scan


def write_jpg(path: Path, width: int = 16, height: int = 16, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)


def write_xyc(path: Path, points) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{x}\t{y}\n" for x, y in points))


# --- read_xyc ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"10\t20\n30\t40\n", [[10, 20], [30, 40]]),
        (b"10 20\r\n30   40\r\n", [[10, 20], [30, 40]]),  # spaces, CRLF
        (b"10\t20\n30\t40", [[10, 20], [30, 40]]),  # no trailing newline
        (b"  10 \t 20\n\n30.5\t40.25\n\n", [[10, 20], [30.5, 40.25]]),  # mixed whitespace, blank lines
        (b"\xef\xbb\xbf7\t8\n", [[7, 8]]),  # UTF-8 byte-order mark from a Windows editor
        (b"", []),
        (b"\r\n", []),
    ],
)
def test_read_xyc_accepts_real_world_variants(tmp_path, content, expected):
    path = tmp_path / "Im001_1.xyc"
    path.write_bytes(content)
    points = read_xyc(path)
    assert points.shape == (len(expected), 2)
    assert points.dtype.kind == "f"
    np.testing.assert_allclose(points, np.array(expected, dtype=float).reshape(-1, 2))


@pytest.mark.parametrize(
    "content, line",
    [
        (b"10\t20\n30\t40\t50\n", 2),
        (b"10\t20\r\n\r\nabc\t40\r\n", 3),
        (b"10\n", 1),
        (b"1\t2\n3\tnan\n", 2),
        (b"1,2\n", 1),
    ],
)
def test_read_xyc_malformed_line_names_file_and_line(tmp_path, content, line):
    path = tmp_path / "Im001_1.xyc"
    path.write_bytes(content)
    with pytest.raises(DatasetError) as info:
        read_xyc(path)
    assert info.value.path == str(path)
    assert info.value.problem.startswith(f"line {line}:")
    assert "\n" not in str(info.value)


# --- layouts ------------------------------------------------------------------------------------


def _slides(root: Path, image_dir: str, xyc_dir: str) -> dict:
    """Two ALL slides and one healthy slide of different sizes; suffix case varies."""
    truth = {
        "Im001_1": ((24, 16), [(3, 4), (10, 12)], ".jpg"),
        "Im002_1": ((20, 12), [(5.5, 6)], ".JPG"),
        "Im034_0": ((16, 20), [], ".jpeg"),
    }
    for stem, ((width, height), points, suffix) in truth.items():
        write_jpg(root / image_dir / f"{stem}{suffix}", width, height)
        write_xyc(root / xyc_dir / f"{stem}.xyc", points)
    return truth


@pytest.mark.parametrize(
    "image_dir, xyc_dir",
    [("im", "xyc"), (".", "."), ("ALL_IDB1/im", "ALL_IDB1/xyc"), ("slides/a", "annotations")],
)
def test_layouts(tmp_path, image_dir, xyc_dir):
    truth = _slides(tmp_path, image_dir, xyc_dir)
    result = scan("allidb1", tmp_path)
    manifest = result.manifest
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest["id"]) == sorted(truth)
    for row in manifest.itertuples():
        (width, height), points, suffix = truth[row.id]
        assert (row.width, row.height) == (width, height)
        assert row.label == int(row.id[-1])
        assert row.class_name == ("ALL" if row.label else "healthy")
        assert row.source_id == row.id
        assert row.split == ""
        assert row.n_annotations == len(points)
        assert Path(row.annotation) == (tmp_path / xyc_dir / f"{row.id}.xyc").absolute()
        assert Path(row.path) == (tmp_path / image_dir / f"{row.id}{suffix}").absolute()
        assert row.sha256 == hashlib.sha256(Path(row.path).read_bytes()).hexdigest()
    assert result.rejected.empty


def test_label_and_annotation_mismatch_warns_but_keeps_rows(tmp_path, caplog):
    write_jpg(tmp_path / "Im001_1.jpg")
    write_xyc(tmp_path / "Im001_1.xyc", [])  # ALL slide, no blasts
    write_jpg(tmp_path / "Im050_0.jpg")
    write_xyc(tmp_path / "Im050_0.xyc", [(1, 2)])  # healthy slide with a blast
    manifest = scan("allidb1", tmp_path).manifest
    assert list(manifest["id"]) == ["Im001_1", "Im050_0"]
    assert list(manifest["n_annotations"]) == [0, 1]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Im001_1.jpg: ALL slide has no blast centroids" in m for m in warnings)
    assert any("Im050_0.jpg: healthy slide has 1 blast centroids" in m for m in warnings)


def test_centroid_on_the_border_is_kept(tmp_path):
    # x == width, y == height: a 1-based annotator's last pixel, not an error.
    write_jpg(tmp_path / "Im001_1.jpg", 16, 12)
    write_xyc(tmp_path / "Im001_1.xyc", [(0, 0), (16, 12)])
    result = scan("allidb1", tmp_path)
    assert result.manifest["n_annotations"].tolist() == [2]
    assert result.rejected.empty


def test_orphan_centroid_file_warns(tmp_path, caplog):
    _slides(tmp_path, "im", "xyc")
    write_xyc(tmp_path / "xyc" / "Im099_0.xyc", [])
    assert len(scan("allidb1", tmp_path).manifest) == 3
    assert any("1 centroid files have no image (Im099_0)" in m for m in caplog.messages)


# --- problems -----------------------------------------------------------------------------------


def _bad_missing_xyc(root: Path) -> Path:
    write_jpg(root / "im" / "Im010_1.jpg")
    return root / "im" / "Im010_1.jpg"


def _bad_malformed_xyc(root: Path) -> Path:
    write_jpg(root / "im" / "Im010_1.jpg")
    (root / "xyc" / "Im010_1.xyc").write_bytes(b"1\t2\r\n3\t4\t5\r\n")
    return root / "im" / "Im010_1.jpg"


def _bad_name(root: Path) -> Path:
    write_jpg(root / "im" / "slide 10.jpg")
    return root / "im" / "slide 10.jpg"


def _bad_label(root: Path) -> Path:
    write_jpg(root / "im" / "Im010_2.jpg")
    write_xyc(root / "xyc" / "Im010_2.xyc", [])
    return root / "im" / "Im010_2.jpg"


def _bad_type(root: Path) -> Path:
    write_jpg(root / "im" / "Im010_1.png")
    write_xyc(root / "xyc" / "Im010_1.xyc", [])
    return root / "im" / "Im010_1.png"


def _bad_truncated(root: Path) -> Path:
    path = root / "im" / "Im010_1.jpg"
    write_jpg(path, 64, 64)
    path.write_bytes(path.read_bytes()[:300])
    write_xyc(root / "xyc" / "Im010_1.xyc", [(1, 1)])
    return path


def _bad_two_xyc(root: Path) -> Path:
    write_jpg(root / "im" / "Im010_1.jpg")
    write_xyc(root / "xyc" / "Im010_1.xyc", [(1, 1)])
    write_xyc(root / "old" / "Im010_1.xyc", [(1, 1)])
    return root / "im" / "Im010_1.jpg"


def _bad_duplicate(root: Path) -> Path:
    write_jpg(root / "copy" / "Im001_1.jpg")
    return root / "im" / "Im001_1.jpg"  # sorts after copy/: the copy is the original


def _bad_centroid_outside(root: Path) -> Path:
    write_jpg(root / "im" / "Im010_1.jpg", 16, 12)
    write_xyc(root / "xyc" / "Im010_1.xyc", [(3, 3), (5, 5), (2592, 4), (2, 1944)])  # the 2592x1944 copy's
    return root / "im" / "Im010_1.jpg"


def _bad_centroid_negative(root: Path) -> Path:
    write_jpg(root / "im" / "Im010_1.jpg", 16, 12)
    (root / "xyc" / "Im010_1.xyc").write_text("3\t3\n\n-1\t4\n")  # line 2 is blank
    return root / "im" / "Im010_1.jpg"


def _bad_relabelled(root: Path) -> Path:
    write_jpg(root / "im" / "Im001_0.jpg")  # Im001_1 exists: one slide, two labels
    write_xyc(root / "xyc" / "Im001_0.xyc", [])
    return root / "im" / "Im001_1.jpg"


BAD_INPUTS = {
    "missing xyc": (_bad_missing_xyc, ["no centroid file Im010_1.xyc"]),
    "malformed xyc": (_bad_malformed_xyc, ["malformed centroid file", "Im010_1.xyc", "line 2"]),
    "name does not parse": (_bad_name, ["file name does not parse"]),
    "label cannot be read": (_bad_label, ["label '2' cannot be read"]),
    "wrong image type": (_bad_type, ["unexpected image type '.png'"]),
    "truncated": (_bad_truncated, ["unreadable or truncated image"]),
    "two xyc files": (_bad_two_xyc, ["several centroid files"]),
    "duplicate id": (_bad_duplicate, ["duplicate id 'Im001_1'"]),
    "centroid outside": (
        _bad_centroid_outside,
        ["Im010_1.xyc, line 3:", "centroid (2592, 4) lies outside the 16x12 image", "2 of 4 centroids"],
    ),
    "negative centroid": (_bad_centroid_negative, ["Im010_1.xyc, line 3:", "centroid (-1, 4) lies outside"]),
    "number labelled twice": (_bad_relabelled, ["Im001 is labelled ALL here and healthy in", "Im001_0.jpg"]),
}
# Ids a problem removes from the manifest besides the bad file's own (under strict=false).
ALSO_DROPPED = {"duplicate id": {"Im001_1"}, "number labelled twice": {"Im001_1", "Im001_0"}}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_strict_raises_naming_file_and_problem(tmp_path, case):
    make_bad, fragments = BAD_INPUTS[case]
    _slides(tmp_path, "im", "xyc")
    bad = make_bad(tmp_path)
    with pytest.raises(DatasetError) as info:
        scan("allidb1", tmp_path, strict=True)
    assert info.value.path == str(bad)
    for fragment in fragments:
        assert fragment in info.value.problem
    assert str(info.value).startswith(f"{bad}: ")


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_non_strict_rejects_and_keeps_good_files(tmp_path, case, caplog):
    make_bad, fragments = BAD_INPUTS[case]
    truth = _slides(tmp_path, "im", "xyc")
    bad = make_bad(tmp_path)
    result = scan("allidb1", tmp_path, strict=False)
    rejected = result.rejected[result.rejected["path"] == str(bad)]
    assert len(rejected) == 1
    assert rejected["dataset"].iloc[0] == "allidb1"
    for fragment in fragments:
        assert fragment in rejected["problem"].iloc[0]
    kept = set(truth) - ALSO_DROPPED.get(case, set())
    assert set(result.manifest["id"]) == kept
    assert any("files rejected under strict=false" in m for m in caplog.messages)


def test_number_labelled_twice_rejects_both_files_under_non_strict(tmp_path):
    _slides(tmp_path, "im", "xyc")
    _bad_relabelled(tmp_path)
    rejected = scan("allidb1", tmp_path, strict=False).rejected
    assert sorted(Path(p).name for p in rejected["path"]) == ["Im001_0.jpg", "Im001_1.jpg"]
    assert rejected["problem"].str.contains("labelled twice").all()
