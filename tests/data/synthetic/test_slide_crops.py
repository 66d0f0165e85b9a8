"""ALL-IDB2 crops cut from synthetic ALL-IDB1 slides: planted provenance, labels, layout, determinism."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.core.io import read_rgb
from leukoflow.data.synthetic import write_allidb1, write_allidb2
from leukoflow.data.synthetic.slide_crops import CROP_KINDS

CROPS = dict(n_all=6, n_healthy=6, odd_sizes=True, from_slides=0.5)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("slide_crops")
    write_allidb1(root / "allidb1", n_all=3, n_healthy=2, resolutions=((720, 560), (640, 480)), seed=5)
    write_allidb2(root / "allidb2", **CROPS, slides=root / "allidb1", seed=5)
    return root


def truth_of(root):
    return pd.read_csv(root / "allidb2" / "truth.tsv", sep="\t", dtype={"slide": str})


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_layout_and_names_are_the_real_ones(synthetic):
    names = sorted(p.name for p in (synthetic / "allidb2" / "data" / "img").iterdir())
    assert names == [f"Im{i:03d}_{int(i <= 6)}.tif" for i in range(1, 13)]
    sizes = {read_rgb(p).shape[:2] for p in (synthetic / "allidb2" / "data" / "img").iterdir()}
    assert (257, 257) in sizes and len(sizes) > 1  # the odd sizes are kept


def test_cut_crops_are_their_slide_region_and_centre_a_cell_of_their_class(synthetic):
    truth = truth_of(synthetic)
    cells = pd.read_csv(synthetic / "allidb1" / "truth.tsv", sep="\t")
    cut = truth[truth["slide"].notna()]
    assert len(cut) >= 4 and (truth["slide"].isna()).sum() >= 4  # both kinds of crops
    for row in cut.itertuples():
        crop = read_rgb(synthetic / "allidb2" / "data" / "img" / f"{row.id}.tif").astype(float)
        slide = read_rgb(next((synthetic / "allidb1" / "data").rglob(f"{row.slide}.jpg"))).astype(float)
        height, width = crop.shape[:2]
        region = slide[int(row.y) : int(row.y) + height, int(row.x) : int(row.x) + width]
        difference = crop - region
        assert np.abs(difference).mean() < 3 and 0 < difference.std() < 3  # close, but not a copy
        label = int(row.id[-1])
        assert row.kind in CROP_KINDS[label]
        if (height, width) == (257, 257):
            # The crop's centre falls on a planted cell of the slide, of the crop's kind.
            on_slide = cells[cells["image_id"] == row.slide]
            distance = np.hypot(on_slide["x"] - (row.x + 128), on_slide["y"] - (row.y + 128))
            nearest = on_slide.iloc[int(distance.argmin())]
            assert distance.min() <= 6 and nearest["kind"] == row.kind
            assert bool(nearest["is_blast"]) == (label == 1)


def test_same_seed_same_files(synthetic, tmp_path):
    write_allidb2(tmp_path / "again", **CROPS, slides=synthetic / "allidb1", seed=5)
    assert digest(tmp_path / "again" / "data") == digest(synthetic / "allidb2" / "data")
    assert (tmp_path / "again" / "truth.tsv").read_bytes() == (synthetic / "allidb2" / "truth.tsv").read_bytes()


def test_no_slides_or_zero_share_cut_nothing(synthetic, tmp_path):
    alone = write_allidb2(tmp_path / "alone", **CROPS, seed=5)
    none = write_allidb2(tmp_path / "none", **{**CROPS, "from_slides": 0.0}, slides=synthetic / "allidb1", seed=5)
    for folder in ("alone", "none"):
        assert pd.read_csv(tmp_path / folder / "truth.tsv", sep="\t")["slide"].isna().all()
    # Crops from no slide do not depend on whether slides were given.
    assert digest(alone) == digest(none)
    cut = truth_of(synthetic)
    rendered = cut.loc[cut["slide"].isna(), "id"]
    full = digest(synthetic / "allidb2" / "data")
    assert all(full[f"{stem}.tif"] == digest(alone)[f"{stem}.tif"] for stem in rendered)


def test_bad_settings_are_named(synthetic, tmp_path):
    with pytest.raises(ConfigError, match="from_slides"):
        write_allidb2(tmp_path / "x", **{**CROPS, "from_slides": 1.5}, slides=synthetic / "allidb1")
    with pytest.raises(DatasetError, match="truth.tsv"):
        write_allidb2(tmp_path / "y", **CROPS, slides=tmp_path / "missing")
