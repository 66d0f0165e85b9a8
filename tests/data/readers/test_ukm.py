"""UKM-WBC reader: <class>/images + <class>/masks with binary, grey or colour-coded masks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from leukoflow.core.errors import DatasetError
from leukoflow.data.readers import MANIFEST_COLUMNS, scan

WHITE, CYAN, BLUE = (255, 255, 255), (0, 255, 255), (0, 0, 255)


def write_image(path: Path, width: int = 16, height: int = 16, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    if path.suffix.lower() in (".tif", ".tiff"):
        tifffile.imwrite(path, rgb)
    else:
        Image.fromarray(rgb).save(path)


def binary_mask(width: int = 16, height: int = 16, mode: str = "L") -> Image.Image:
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4 : height // 2, width // 4 : width // 2] = 255
    return Image.fromarray(mask).convert(mode)


def colour_mask(width: int = 16, height: int = 16, nucleus: bool = True) -> Image.Image:
    """The ALL-IDB2 stand-in format: white background, blue cytoplasm, cyan nucleus."""
    rgb = np.full((height, width, 3), WHITE, np.uint8)
    rgb[2:-2, 2:-2] = BLUE
    if nucleus:
        rgb[5:-5, 5:-5] = CYAN
    return Image.fromarray(rgb)


def write_mask(path: Path, image: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _dataset(root: Path) -> dict[str, dict]:
    """id -> expected fields; mixes folder-name case, image types and mask formats (PNG, TIFF, BMP;
    binary, grey as RGB, colour-coded)."""
    cases = {
        "neutrophil/n1": ("neutrophil/images/n1.png", "neutrophil/masks/n1.png", binary_mask(), (16, 16)),
        "neutrophil/n2": (
            "neutrophil/images/n2.tif",
            "neutrophil/masks/n2.tif",
            binary_mask(20, 12, "1"),
            (20, 12),
        ),
        "promyelocyte/p1": (
            "Promyelocyte/Images/p1.jpg",
            "Promyelocyte/Masks/p1.bmp",
            colour_mask(),
            (16, 16),
        ),
        "lymphoblast/l1": (
            "LYMPHOBLAST/images/l1.bmp",
            "LYMPHOBLAST/masks/l1.PNG",
            binary_mask(mode="RGB"),
            (16, 16),
        ),
        "lymphoblast/n1": (
            "lymphoblast/images/n1.jpeg",
            "lymphoblast/masks/n1.tiff",
            colour_mask(12, 18),
            (12, 18),
        ),
    }
    expected = {}
    for seed, (image_id, (image, mask, mask_image, (width, height))) in enumerate(cases.items()):
        write_image(root / image, width, height, seed=seed)
        write_mask(root / mask, mask_image)
        class_name = image_id.split("/")[0]
        expected[image_id] = {
            "path": str(root / image),
            "annotation": str(root / mask),
            "class_name": class_name,
            "label": ("neutrophil", "promyelocyte", "lymphoblast").index(class_name),
            "source_id": image_id.split("/")[1],
            "width": width,
            "height": height,
        }
    return expected


def test_layout_and_mask_formats(tmp_path):
    expected = _dataset(tmp_path)
    (tmp_path / "README.md").write_text("our UKM layout")
    result = scan("ukm", tmp_path)
    manifest = result.manifest
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest["id"]) == sorted(expected)
    for row in manifest.to_dict("records"):
        for column, value in expected[row["id"]].items():
            assert row[column] == value, (row["id"], column)
        assert row["split"] == ""
        assert row["sha256"] == hashlib.sha256(Path(row["path"]).read_bytes()).hexdigest()
    assert manifest["n_annotations"].isna().all()
    assert result.rejected.empty


# --- problems: each returns (path named, problem fragment, ids that must disappear) ------------


def _missing_mask(root):
    write_image(root / "neutrophil" / "images" / "n3.png")
    return root / "neutrophil" / "images" / "n3.png", "no mask neutrophil/masks/n3.<png|tif|tiff|bmp>", set()


def _mask_size(root):
    write_image(root / "neutrophil" / "images" / "n3.png", 16, 16)
    write_mask(root / "neutrophil" / "masks" / "n3.png", binary_mask(16, 12))
    return root / "neutrophil" / "images" / "n3.png", "masks/n3.png is 16x12, image is 16x16", set()


def _empty_mask(root):
    write_image(root / "neutrophil" / "images" / "n3.png")
    write_mask(root / "neutrophil" / "masks" / "n3.png", Image.new("L", (16, 16)))
    return root / "neutrophil" / "images" / "n3.png", "is empty (no nucleus pixels)", set()


def _empty_colour_mask(root):
    write_image(root / "promyelocyte" / "images" / "p3.png")
    write_mask(root / "promyelocyte" / "masks" / "p3.png", colour_mask(nucleus=False))
    return root / "promyelocyte" / "images" / "p3.png", "is empty (no nucleus pixels)", set()


def _truncated_mask(root):
    write_image(root / "neutrophil" / "images" / "n3.png")
    mask = root / "neutrophil" / "masks" / "n3.png"
    write_mask(mask, Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8)))
    mask.write_bytes(mask.read_bytes()[:100])
    return root / "neutrophil" / "images" / "n3.png", "unreadable or truncated mask", set()


def _truncated_image(root):
    path = root / "neutrophil" / "images" / "n1.png"
    path.write_bytes(path.read_bytes()[:100])
    return path, "unreadable or truncated image", {"neutrophil/n1"}


def _unknown_class(root):
    write_image(root / "basophil" / "images" / "b1.png")
    write_mask(root / "basophil" / "masks" / "b1.png", binary_mask())
    return root / "basophil", "unknown class folder 'basophil'", set()


def _unknown_class_without_images(root):
    """A class folder whose files are not images used to vanish without a word."""
    (root / "Monocytes" / "images").mkdir(parents=True)
    (root / "Monocytes" / "images" / "m1.jp2").write_bytes(b"not read")
    return root / "Monocytes", "unknown class folder 'Monocytes'; expected one of neutrophil", set()


def _orphan_mask(root):
    write_mask(root / "lymphoblast" / "masks" / "l9.png", binary_mask())
    return root / "lymphoblast" / "masks" / "l9.png", "mask without an image", set()


def _wrong_place(root):
    write_image(root / "neutrophil" / "n4.png")
    return root / "neutrophil" / "n4.png", "unexpected location", set()


def _mask_lossy(root):
    write_image(root / "neutrophil" / "masks" / "n1.jpg")
    return root / "neutrophil" / "masks" / "n1.jpg", "mask in a lossy or unknown format '.jpg'", set()


def _two_masks(root):
    write_mask(root / "neutrophil" / "masks" / "n1.tif", binary_mask())
    return root / "neutrophil" / "images" / "n1.png", "several masks", {"neutrophil/n1"}


def _image_type(root):
    write_image(root / "neutrophil" / "images" / "n5.gif")
    return root / "neutrophil" / "images" / "n5.gif", "unexpected image type '.gif'", set()


def _duplicate_stem(root):
    write_image(root / "neutrophil" / "images" / "n1.tif")
    return root / "neutrophil" / "images" / "n1.tif", "duplicate id 'neutrophil/n1'", {"neutrophil/n1"}


BAD_INPUTS = {
    f.__name__.strip("_"): f
    for f in (
        _missing_mask,
        _mask_size,
        _empty_mask,
        _empty_colour_mask,
        _truncated_mask,
        _truncated_image,
        _unknown_class,
        _unknown_class_without_images,
        _orphan_mask,
        _wrong_place,
        _mask_lossy,
        _two_masks,
        _image_type,
        _duplicate_stem,
    )
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_strict(tmp_path, case):
    _dataset(tmp_path)
    path, fragment, _ = BAD_INPUTS[case](tmp_path)
    with pytest.raises(DatasetError) as info:
        scan("ukm", tmp_path)
    assert info.value.path == str(path)
    assert fragment in info.value.problem


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_non_strict(tmp_path, case):
    expected = _dataset(tmp_path)
    path, fragment, removed = BAD_INPUTS[case](tmp_path)
    result = scan("ukm", tmp_path, strict=False)
    named = result.rejected[result.rejected["path"] == str(path)]
    assert len(named) == 1 and fragment in named["problem"].iloc[0]
    assert (named["dataset"] == "ukm").all()
    assert set(result.manifest["id"]) == set(expected) - removed
