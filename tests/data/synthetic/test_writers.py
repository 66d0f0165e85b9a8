"""The synthetic generator: layouts, determinism, planted truth and appearance."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image
from scipy import ndimage

from leukoflow.core.errors import ConfigError
from leukoflow.core.io import read_mask, read_rgb
from leukoflow.data.synthetic import (
    CELL_KINDS,
    render_cell_crop,
    write_allidb1,
    write_allidb2,
    write_cnmc,
    write_dataset,
    write_ukm,
    writers,
)
from leukoflow.data.synthetic.field import BACKGROUND, NUCLEUS, RED_CELL
from leukoflow.data.synthetic.slides import WHITE_DIAMETER, plan_slide, render_slide
from leukoflow.data.synthetic.writers import ALLIDB2_ODD_SIZES, odd_sizes_for

SMALL = {
    "allidb1": dict(n_all=3, n_healthy=2, resolutions=((720, 560), (640, 480)), layout="split"),
    "allidb2": dict(n_all=6, n_healthy=6, odd_sizes=True),
    "cnmc": dict(
        subjects_all=4,
        subjects_hem=3,
        cells_per_subject=3,
        prelim_subjects=3,
        cells_per_prelim_subject=2,
        size=160,
        nested=False,
    ),
    "ukm": dict(per_class=3, size=128),
}
# Colours measured on real ALL-IDB1 slides (datasets.md).
BACKGROUND_RANGE = ((160, 175), (160, 173), (150, 160))
RED_CELL_RANGE = ((145, 165), (130, 145), (130, 140))
NUCLEUS_COLOUR = (80, 25, 120)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, Path]:
    """Each dataset written once, small, with seed 3."""
    root = tmp_path_factory.mktemp("synthetic")
    for name, params in SMALL.items():
        write_dataset(name, root / name, params, seed=3)
    return {name: root / name for name in SMALL}


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_same_bytes_other_seed_other_bytes(small, tmp_path, name):
    write_dataset(name, tmp_path / "again", SMALL[name], seed=3)
    write_dataset(name, tmp_path / "other", SMALL[name], seed=4)
    first, again, other = (tree_digest(p) for p in (small[name], tmp_path / "again", tmp_path / "other"))
    assert first == again
    assert len(first) > 1
    # Same names (the layout depends on sizes only, C-NMC cell grouping aside) but other pixels.
    images = [key for key in first if key.endswith((".jpg", ".tif", ".bmp", ".png"))]
    assert sum(first[key] != other.get(key) for key in images) >= 0.9 * len(images)


def test_render_cell_crop_is_deterministic_and_shaped():
    for kind in CELL_KINDS:
        rgb, nucleus = render_cell_crop(np.random.default_rng(1), kind, size=257)
        again, _ = render_cell_crop(np.random.default_rng(1), kind, size=257)
        other, _ = render_cell_crop(np.random.default_rng(2), kind, size=257)
        assert rgb.shape == (257, 257, 3) and rgb.dtype == np.uint8
        assert nucleus.shape == (257, 257) and nucleus.dtype == bool
        assert np.array_equal(rgb, again) and not np.array_equal(rgb, other)
        # The cell is centred: the nucleus covers the middle of the crop.
        assert nucleus[118:140, 118:140].mean() > 0.3 or kind == "neutrophil"
        assert 0.02 < nucleus.mean() < 0.5
    with pytest.raises(ValueError, match="unknown white-cell kind"):
        render_cell_crop(np.random.default_rng(0), "monocyte")


# --- ALL-IDB1 ---------------------------------------------------------------------------------


def test_allidb1_layout_names_and_resolutions(small):
    data = small["allidb1"] / "data"
    jpgs = sorted((data / "im").iterdir())
    xycs = sorted((data / "xyc").iterdir())
    assert [p.stem for p in jpgs] == [p.stem for p in xycs]
    assert all(re.fullmatch(r"Im\d{3}_[01]\.jpg", p.name) for p in jpgs)
    stems = [p.stem for p in jpgs]
    assert stems == ["Im001_1", "Im002_1", "Im003_1", "Im004_0", "Im005_0"]  # ALL slides first
    sizes = [Image.open(p).size for p in jpgs]
    assert sizes == [(720, 560), (640, 480), (720, 560), (640, 480), (720, 560)]  # cycling
    assert all(Image.open(p).format == "JPEG" for p in jpgs)


def test_allidb1_flat_layout(tmp_path):
    write_allidb1(tmp_path, n_all=1, n_healthy=1, resolutions=((640, 480),), layout="flat", seed=0)
    names = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert names == ["Im001_1.jpg", "Im001_1.xyc", "Im002_0.jpg", "Im002_0.xyc"]


def test_allidb1_xyc_matches_truth(small):
    data = small["allidb1"] / "data"
    truth = pd.read_csv(small["allidb1"] / "truth.tsv", sep="\t")
    assert list(truth.columns) == ["image_id", "x", "y", "kind", "is_blast", "radius"]
    for xyc in sorted((data / "xyc").iterdir()):
        lines = [line.split("\t") for line in xyc.read_text().splitlines()]
        points = sorted((int(x), int(y)) for x, y in lines)
        rows = truth[(truth.image_id == xyc.stem) & (truth.is_blast == 1)]
        assert points == sorted(zip(rows.x, rows.y))
        width, height = Image.open(data / "im" / f"{xyc.stem}.jpg").size
        assert all(0 <= x < width and 0 <= y < height for x, y in points)
        if xyc.stem.endswith("_1"):
            assert len(points) >= 1
        else:
            assert xyc.read_text() == ""
            kinds = set(truth[truth.image_id == xyc.stem].kind)
            assert kinds and kinds <= {"lymphocyte", "neutrophil"}
    assert set(truth.kind[truth.is_blast == 1]) == {"lymphoblast"}


def test_allidb1_blasts_sit_on_dark_nuclei(small):
    """The annotated centroids point at real drawn cells, not at empty smear."""
    data = small["allidb1"] / "data"
    truth = pd.read_csv(small["allidb1"] / "truth.tsv", sep="\t")
    for stem, rows in truth.groupby("image_id"):
        green = read_rgb(data / "im" / f"{stem}.jpg")[:, :, 1].astype(np.float32)
        for row in rows.itertuples():
            if row.kind in ("lymphoblast", "lymphocyte"):
                r = int(row.radius * 0.4)
                window = green[row.y - r : row.y + r, row.x - r : row.x + r]
                assert np.median(window) < 80  # nucleus green is about 25; smear is above 125


def test_slide_plans_have_clumps_and_larger_blasts():
    touching_slides, blast_radii, lymph_radii = 0, [], []
    for index in range(20):
        rng = np.random.default_rng(index)
        cells = plan_slide(rng, 1368, 1712, has_blasts=index % 2 == 0, white_diameter=rng.uniform(*WHITE_DIAMETER))
        xy = np.array([(c.x, c.y) for c in cells])
        radius = np.array([c.radius for c in cells])
        gap = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) - (radius[:, None] + radius[None, :])
        np.fill_diagonal(gap, np.inf)
        touching_slides += bool((gap < 0).any())
        blast_radii += [c.radius for c in cells if c.kind == "lymphoblast"]
        lymph_radii += [c.radius for c in cells if c.kind == "lymphocyte"]
        if index % 2:  # healthy
            assert {c.kind for c in cells} <= {"lymphocyte", "neutrophil"}
        else:
            assert any(c.kind == "lymphoblast" for c in cells)
    assert touching_slides >= 5
    assert np.mean(blast_radii) > 1.04 * np.mean(lymph_radii)


def test_blasts_render_larger_than_lymphocytes():
    """Measured on the drawn nucleus masks, not on the planned radii."""
    areas = {
        kind: [render_cell_crop(np.random.default_rng(i), kind)[1].sum() for i in range(12)]
        for kind in ("lymphoblast", "lymphocyte")
    }
    assert np.mean(areas["lymphoblast"]) > 1.05 * np.mean(areas["lymphocyte"])
    # ...but the sizes overlap, so size alone does not classify.
    assert min(areas["lymphoblast"]) < max(areas["lymphocyte"])


def test_slide_colours_match_real_allidb1():
    medians = {BACKGROUND: [], RED_CELL: [], NUCLEUS: []}
    for index in range(6):
        field, _ = render_slide(np.random.default_rng(index), 700, 900, has_blasts=index % 2 == 0)
        for region in medians:
            inner = ndimage.binary_erosion(field.regions == region, iterations=2)
            assert inner.sum() > 100
            medians[region].append(np.median(field.rgb[inner], axis=0))
    for region, ranges, tolerance in ((BACKGROUND, BACKGROUND_RANGE, 2), (RED_CELL, RED_CELL_RANGE, 2)):
        pooled = np.median(medians[region], axis=0)
        for value, (low, high) in zip(pooled, ranges):
            assert low - tolerance <= value <= high + tolerance, (region, pooled)
        # Every slide is near the range too: the stain varies, but stays an MGG stain.
        for value, (low, high) in zip(np.array(medians[region]).T, ranges):
            assert (value >= low - 12).all() and (value <= high + 12).all(), (region, value)
    nucleus = np.median(medians[NUCLEUS], axis=0)
    assert np.abs(nucleus - NUCLEUS_COLOUR).max() <= 15, nucleus
    # Ordering that makes it an MGG smear: background brightest, nuclei darkest, nuclei purple.
    assert np.median(medians[BACKGROUND], axis=0).sum() > np.median(medians[RED_CELL], axis=0).sum()
    assert nucleus[2] > nucleus[0] > nucleus[1]


def test_full_size_slide_renders_at_the_real_size():
    # Its speed is measured by benchmarks/bench_synthetic.py, not here.
    field, cells = render_slide(np.random.default_rng(1), 1944, 2592, has_blasts=True)
    assert field.rgb.shape == (1944, 2592, 3) and field.rgb.dtype == np.uint8
    assert cells and all(0 <= cell.x < 2592 and 0 <= cell.y < 1944 for cell in cells)


# --- ALL-IDB2 ---------------------------------------------------------------------------------


def test_allidb2_layout_and_tiff_format(small):
    files = sorted((small["allidb2"] / "data" / "img").iterdir())
    assert [p.name for p in files] == [f"Im{i:03d}_{int(i <= 6)}.tif" for i in range(1, 13)]
    for path in files:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            assert page.compression == tifffile.COMPRESSION.NONE
            assert page.photometric == tifffile.PHOTOMETRIC.RGB
            assert page.dtype == np.uint8 and page.shape[2] == 3
    truth = pd.read_csv(small["allidb2"] / "truth.tsv", sep="\t")
    assert list(truth.id) == [p.stem for p in files]
    assert set(truth.kind[truth.id.str.endswith("_1")]) == {"lymphoblast"}
    assert set(truth.kind[truth.id.str.endswith("_0")]) <= {"lymphocyte", "neutrophil"}


def test_allidb2_odd_sizes(small):
    # Full counts: exactly the real ids and sizes.
    assert odd_sizes_for(130, 130) == ALLIDB2_ODD_SIZES
    # Small counts: moved onto the last images of each class, at most half of a class.
    moved = odd_sizes_for(6, 6)
    assert sorted(moved) == [(4, 1), (5, 1), (6, 1), (10, 0), (11, 0), (12, 0)]
    assert set(moved.values()) <= set(ALLIDB2_ODD_SIZES.values())
    sizes = {p.stem: Image.open(p).size for p in (small["allidb2"] / "data" / "img").iterdir()}
    for (number, label), size in moved.items():
        assert sizes[f"Im{number:03d}_{label}"] == size
    assert sum(size == (257, 257) for size in sizes.values()) == 12 - len(moved)
    # Partial counts: real ids kept where they exist.
    partial = odd_sizes_for(30, 20)
    assert partial[(25, 1)] == (257, 253) and len([k for k in partial if k[1] == 0]) == 7


def test_allidb2_without_odd_sizes(tmp_path):
    write_allidb2(tmp_path, n_all=2, n_healthy=2, odd_sizes=False, seed=0)
    assert {Image.open(p).size for p in (tmp_path / "data" / "img").iterdir()} == {(257, 257)}


# --- C-NMC ------------------------------------------------------------------------------------

CNMC_NAME = re.compile(r"UID_(H?\d+)_(\d+)_(\d+)_(all|hem)\.bmp")


def test_cnmc_layout_subjects_and_folds(small):
    data = small["cnmc"] / "data"
    fold_of: dict[str, set] = {}
    files = sorted(data.glob("fold_*/*/*.bmp"))
    assert len(files) == (4 + 3) * 3
    for path in files:
        match = CNMC_NAME.fullmatch(path.name)
        assert match, path.name
        subject, tag = match.group(1), match.group(4)
        assert path.parent.name == tag
        assert subject.startswith("H") == (tag == "hem")
        fold_of.setdefault(subject, set()).add(path.parent.parent.name)
    assert all(len(folds) == 1 for folds in fold_of.values())  # no subject straddles folds
    assert sorted(fold_of) == sorted(["1", "2", "3", "4", "H1", "H2", "H3"])
    for fold in ("fold_0", "fold_1", "fold_2"):
        assert {p.parent.name for p in data.glob(f"{fold}/*/*.bmp")} == {"all", "hem"}


def test_cnmc_bmp_cells_on_black(small):
    for path in sorted((small["cnmc"] / "data").rglob("*.bmp"))[:8]:
        with Image.open(path) as image:
            assert image.format == "BMP" and image.mode == "RGB" and image.size == (160, 160)
            assert image.info.get("compression", 0) == 0
        rgb = read_rgb(path)
        black = (rgb == 0).all(axis=2)
        assert black[[0, 0, -1, -1], [0, -1, 0, -1]].all()  # background exactly 0
        assert 0.1 < (~black).mean() < 0.6  # one cell, not the whole frame
        labels, count = ndimage.label(~black)
        assert count == 1


def test_cnmc_preliminary_set(small):
    data = small["cnmc"] / "data"
    labels = pd.read_csv(data / "C-NMC_test_prelim_phase_data_labels.csv")
    assert list(labels.columns) == ["Patient_ID", "new_names", "labels"]
    assert sorted(labels.new_names) == sorted(f"{i}.bmp" for i in range(1, 7))
    assert sorted(p.name for p in (data / "C-NMC_test_prelim_phase_data").iterdir()) == sorted(labels.new_names)
    training_subjects = {CNMC_NAME.fullmatch(p.name).group(1) for p in data.glob("fold_*/*/*.bmp")}
    for row in labels.itertuples():
        match = CNMC_NAME.fullmatch(row.Patient_ID)
        assert match
        assert row.labels == int(match.group(4) == "all")
        assert match.group(1) not in training_subjects
    assert set(labels.labels) == {0, 1}
    truth = pd.read_csv(small["cnmc"] / "truth.tsv", sep="\t")
    prelim = truth[truth.id.str.startswith("prelim_")]
    assert len(prelim) == 6 and len(truth) == 21 + 6
    kinds = dict(zip(prelim.id, prelim.kind))
    for row in labels.itertuples():
        assert kinds[f"prelim_{row.new_names[:-4]}"] == ("lymphoblast" if row.labels else "lymphocyte")


def test_cnmc_nested_layout(tmp_path):
    write_cnmc(
        tmp_path,
        subjects_all=1,
        subjects_hem=1,
        cells_per_subject=1,
        prelim_subjects=1,
        cells_per_prelim_subject=1,
        size=96,
        nested=True,
        seed=0,
    )
    root = tmp_path / "data" / "C-NMC_Leukemia"
    assert len(list((root / "training_data").glob("fold_*/*/UID_*.bmp"))) == 2
    assert (root / "validation_data" / "C-NMC_test_prelim_phase_data" / "1.bmp").is_file()
    assert (root / "validation_data" / "C-NMC_test_prelim_phase_data_labels.csv").is_file()


# --- UKM --------------------------------------------------------------------------------------


def test_ukm_images_and_masks(small):
    data = small["ukm"] / "data"
    assert sorted(p.name for p in data.iterdir()) == ["lymphoblast", "neutrophil", "promyelocyte"]
    for class_dir in data.iterdir():
        images = sorted(p.name for p in (class_dir / "images").iterdir())
        assert images == sorted(p.name for p in (class_dir / "masks").iterdir())
        assert images == [f"{class_dir.name}_{i:04d}.png" for i in range(1, 4)]
        for name in images:
            rgb = read_rgb(class_dir / "images" / name)
            raw = np.asarray(Image.open(class_dir / "masks" / name))
            assert rgb.shape == (128, 128, 3) and raw.shape == (128, 128)
            assert set(np.unique(raw)) == {0, 255}
            mask = read_mask(class_dir / "masks" / name)
            # The mask outlines the dark nucleus: darker inside than out.
            assert rgb[mask, 1].mean() + 60 < rgb[~mask, 1].mean()
    truth = pd.read_csv(small["ukm"] / "truth.tsv", sep="\t")
    assert set(truth.id) == {
        f"{c}/{c}_{i:04d}" for c in ("neutrophil", "promyelocyte", "lymphoblast") for i in (1, 2, 3)
    }
    assert (truth.id.str.split("/").str[0] == truth.kind).all()


# --- plumbing ---------------------------------------------------------------------------------


def test_write_dataset_rejects_bad_settings(tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset"):
        write_dataset("allidb3", tmp_path, {}, 0)
    with pytest.raises(ConfigError, match=r"synthetic.ukm: unknown setting\(s\) \['colour'\]"):
        write_dataset("ukm", tmp_path, {"per_class": 1, "colour": "red"}, 0)
    with pytest.raises(ConfigError, match="synthetic.allidb2.n_all"):
        write_dataset("allidb2", tmp_path, {"n_all": -1, "n_healthy": 1}, 0)
    with pytest.raises(ConfigError, match="synthetic.allidb1.resolutions"):
        write_allidb1(tmp_path, n_all=1, n_healthy=0, resolutions=((200, 100),))
    with pytest.raises(ConfigError, match="synthetic.allidb1.layout"):
        write_allidb1(tmp_path, n_all=1, n_healthy=0, layout="nested")
    with pytest.raises(ConfigError, match="synthetic.seed"):
        write_ukm(tmp_path, per_class=1, seed=-5)
    assert not (tmp_path / "data").exists()


def test_yaml_style_resolutions_are_accepted(tmp_path):
    write_dataset("allidb1", tmp_path, {"n_all": 1, "n_healthy": 0, "resolutions": [[640, 480]]}, 0)
    assert Image.open(tmp_path / "data" / "im" / "Im001_1.jpg").size == (640, 480)


def test_failed_write_leaves_no_partial_dataset(tmp_path, monkeypatch):
    write_ukm(tmp_path, per_class=1, size=96, seed=0)
    before = tree_digest(tmp_path / "data")
    calls = []

    def crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return original(*args, **kwargs)

    original = writers.render_crop
    monkeypatch.setattr(writers, "render_crop", crash)
    with pytest.raises(RuntimeError, match="killed"):
        write_ukm(tmp_path, per_class=2, size=96, seed=1)
    assert tree_digest(tmp_path / "data") == before  # the old dataset is untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_rewrite_replaces_old_files(tmp_path):
    write_allidb2(tmp_path, n_all=3, n_healthy=3, seed=0)
    write_allidb2(tmp_path, n_all=1, n_healthy=1, seed=0)
    assert sorted(p.name for p in (tmp_path / "data" / "img").iterdir()) == ["Im001_1.tif", "Im002_0.tif"]
    assert len(pd.read_csv(tmp_path / "truth.tsv", sep="\t")) == 2


def test_cnmc_difficulty_planted_and_recorded(tmp_path):
    # overlap: that share of cells drawn as the other class, still labelled by their subject;
    # subject_effect: one stain per subject, so cells of one subject resemble each other in colour.
    settings = dict(subjects_all=6, subjects_hem=6, cells_per_subject=10, prelim_subjects=0, cells_per_prelim_subject=1)
    root = write_cnmc(tmp_path / "hard", **settings, size=64, overlap=0.3, subject_effect=1.0, seed=2)
    truth = pd.read_csv(tmp_path / "hard" / "truth.tsv", sep="\t")
    swapped = truth["kind"].eq("lymphoblast").astype(int) != truth["label"]
    assert 0.18 <= swapped.mean() <= 0.42  # 120 cells, p = 0.3
    assert set(truth.loc[truth["label"] == 1, "kind"]) == {"lymphoblast", "lymphocyte"}

    def colour_spread(folder):
        means = {}
        for path in sorted(folder.rglob("UID_*.bmp")):
            rgb = read_rgb(path).astype(float)
            cell = rgb.max(axis=2) > 0
            means.setdefault(CNMC_NAME.fullmatch(path.name).group(1), []).append(rgb[cell].mean(axis=0))
        within = np.mean([np.var(np.array(v), axis=0).sum() for v in means.values()])
        between = np.var(np.array([np.mean(v, axis=0) for v in means.values()]), axis=0).sum()
        return between / within

    plain = write_cnmc(tmp_path / "plain", **settings, size=64, seed=2)
    assert colour_spread(root) > 2 * colour_spread(plain)
    with pytest.raises(ConfigError, match="overlap"):
        write_cnmc(tmp_path / "bad", **settings, overlap=1.5)


def test_cnmc_colour_baseline_leaks_by_cell_not_by_subject(tmp_path):
    # The leak the subject split avoids, planted: a colour-histogram classifier (mean and spread
    # of each channel over the cell) reads the subject's stain. Split by cell, it scores well
    # above chance (subjects seen in training); split by subject, near chance (their stains say
    # nothing of the class), and the morphology overlap keeps any model below 1.0.
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_score

    settings = dict(
        subjects_all=10, subjects_hem=10, cells_per_subject=12, prelim_subjects=0, cells_per_prelim_subject=1
    )
    root = write_cnmc(tmp_path / "c", **settings, size=64, overlap=0.2, subject_effect=1.0, seed=4)
    features, labels, subjects = [], [], []
    for path in sorted(root.rglob("UID_*.bmp")):
        rgb = read_rgb(path).astype(float)
        cell = rgb[rgb.max(axis=2) > 0]
        features.append(np.concatenate([cell.mean(axis=0), cell.std(axis=0)]))
        match = CNMC_NAME.fullmatch(path.name)
        labels.append(int(match.group(4) == "all"))
        subjects.append(match.group(1))
    x, y = np.array(features), np.array(labels)
    model = LogisticRegression(max_iter=2000)
    by_cell = cross_val_score(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()
    by_subject = cross_val_score(model, x, y, cv=GroupKFold(5), groups=subjects).mean()
    assert by_cell >= by_subject + 0.15, (by_cell, by_subject)
    assert by_subject <= 0.7, by_subject
