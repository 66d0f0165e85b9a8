"""Any file names: ids, listing, the manifest (strict and lenient), pixel sizes, review order."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.screen.files import build_screen_manifest, image_id, list_images, pixel_sizes, verdict_order


def folder(tmp_path):
    root = tmp_path / "smears"
    (root / "ward B").mkdir(parents=True)
    pixels = np.full((40, 50, 3), 180, np.uint8)
    for name in ("ward B/smear 7.jpg", "a b.png", "a_b.png", "scan.TIF", ".hidden.png", "notes.txt"):
        path = root / name
        if path.suffix.lower() in (".jpg", ".png", ".tif"):
            Image.fromarray(pixels).save(path)
        else:
            path.write_text("x")
    return root


def test_ids_are_safe_unique_and_stable(tmp_path):
    listing = list_images(folder(tmp_path))
    assert list(listing["relative"]) == ["a b.png", "a_b.png", "scan.TIF", "ward B/smear 7.jpg"]
    ids = list(listing["id"])
    assert ids[3] == "ward_B__smear_7" and ids[2] == "scan"
    assert ids[0] != ids[1] and ids[0].startswith("a_b-") and ids[1].startswith("a_b-")  # both get a hash
    assert list(list_images(tmp_path / "smears")["id"]) == ids
    assert image_id("ünïcode/x y.png") == "n_code__x_y"


def test_manifest_strict_and_lenient(tmp_path):
    root = folder(tmp_path)
    (root / "broken.jpg").write_bytes(b"\xff\xd8not a jpeg")
    with pytest.raises(DatasetError, match="broken.jpg"):
        build_screen_manifest(root, True, tmp_path / "m.tsv", tmp_path / "r.tsv")
    manifest = build_screen_manifest(root, False, tmp_path / "m.tsv", tmp_path / "r.tsv")
    assert len(manifest) == 4 and "broken" not in set(manifest["id"])
    rejected = pd.read_csv(tmp_path / "r.tsv", sep="\t")
    assert rejected["path"].str.endswith("broken.jpg").any()


def test_pixel_sizes_from_a_number_or_a_csv(tmp_path):
    listing = list_images(folder(tmp_path))
    assert set(pixel_sizes(0.1, listing).values()) == {0.1}
    assert pixel_sizes(None, listing) == {}
    csv = tmp_path / "sizes.csv"
    csv.write_text("image,pixel_size_um\nsmear 7.jpg,0.12\nscan,0.2\n")
    assert pixel_sizes(str(csv), listing) == {"ward_B__smear_7": 0.12, "scan": 0.2}
    csv.write_text("image,pixel_size_um\nnobody.jpg,0.12\n")
    with pytest.raises(ConfigError, match="no image under screen.root is called nobody.jpg"):
        pixel_sizes(str(csv), listing)
    csv.write_text("image,pixel_size_um\nscan,-1\n")
    with pytest.raises(ConfigError, match="must be a positive number"):
        pixel_sizes(str(csv), listing)
    with pytest.raises(ConfigError, match="positive"):
        pixel_sizes(0, listing)


def test_review_order():
    images = pd.DataFrame(
        {
            "image": ["h", "a1", "n", "a2"],
            "verdict": ["healthy", "ALL", "not assessed", "ALL"],
            "max_p_all": [0.4, 0.7, 0.9, 0.95],
        }
    )
    assert list(verdict_order(images)["image"]) == ["a2", "a1", "n", "h"]
