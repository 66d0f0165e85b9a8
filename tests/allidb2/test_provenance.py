"""Where each ALL-IDB2 crop comes from: recovered exactly on synthetic data; verdicts; summary; figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leukoflow.allidb2.provenance import (
    AMBIGUOUS,
    COLUMNS,
    MATCHED,
    NOT_FOUND,
    ProvenanceSettings,
    decide,
    locate_crops,
    pick_examples,
    read_grey,
    read_provenance,
    summarise,
    write_provenance,
    write_provenance_figure,
)
from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.core.io import read_rgb, write_table_atomic
from leukoflow.core.ncc import block_mean, to_grey
from leukoflow.data.readers import scan
from leukoflow.data.synthetic import write_allidb1, write_allidb2


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Five slides of two sizes; twelve crops, about half cut from the slides (odd sizes included)."""
    root = tmp_path_factory.mktemp("provenance")
    write_allidb1(root / "allidb1", n_all=3, n_healthy=2, resolutions=((720, 560), (640, 480)), seed=11)
    write_allidb2(
        root / "allidb2", n_all=6, n_healthy=6, odd_sizes=True, from_slides=0.5, slides=root / "allidb1", seed=11
    )
    manifests = {}
    for name in ("allidb1", "allidb2"):
        manifests[name] = root / f"{name}.tsv"
        write_table_atomic(scan(name, root / name / "data").manifest, manifests[name])
    truth = pd.read_csv(root / "allidb2" / "truth.tsv", sep="\t", dtype={"slide": str})
    return root, manifests, truth


@pytest.fixture(scope="module")
def located(synthetic):
    root, manifests, truth = synthetic
    tables = {
        name: pd.read_csv(path, sep="\t", dtype={"id": str}, keep_default_na=False) for name, path in manifests.items()
    }
    return locate_crops(tables["allidb2"], tables["allidb1"], ProvenanceSettings()), truth


def test_planted_provenance_is_recovered_exactly(located):
    table, truth = located
    assert list(table.columns) == COLUMNS
    found = table.set_index("crop").loc[truth["id"]]
    planted = truth["slide"].notna().to_numpy()
    assert planted.sum() >= 4 and (~planted).sum() >= 4
    assert (found["verdict"].to_numpy()[planted] == MATCHED).all()
    assert (found["slide"].to_numpy()[planted] == truth["slide"].to_numpy()[planted]).all()
    np.testing.assert_array_equal(found["x"].to_numpy()[planted], truth["x"].to_numpy()[planted])
    np.testing.assert_array_equal(found["y"].to_numpy()[planted], truth["y"].to_numpy()[planted])
    # Scores just under 1 (the crops carry noise the JPEG slide does not), far above the next slide.
    assert (found["score"].to_numpy()[planted] > 0.99).all() and (found["score"].to_numpy()[planted] < 1).all()
    assert (found["second_score"].to_numpy()[planted] < 0.95).all()
    # Every crop that comes from no slide is reported as not found.
    assert (found["verdict"].to_numpy()[~planted] == NOT_FOUND).all()
    # Odd-sized crops (cut flush with an edge) are located too, at their own size.
    odd = found[(found["width"] != 257) | (found["height"] != 257)]
    assert len(odd)


def test_summary_checks_the_planted_truth(located):
    table, truth = located
    summary = summarise(table, 5, ProvenanceSettings(), truth)
    assert summary["planted_recovered"] == summary["planted_from_slides"] == summary["matched"]
    assert summary["no_slide_not_found"] == summary["planted_no_slide"] == summary["not_found"]
    assert summary["slides_with_matches"] == truth["slide"].nunique()
    # A crop reported on the wrong slide is not counted as recovered.
    wrong = table.copy()
    first = truth.loc[truth["slide"].notna(), "id"].iloc[0]
    wrong.loc[wrong["crop"] == first, "slide"] = "Im999_0"
    assert summarise(wrong, 5, ProvenanceSettings(), truth)["planted_recovered"] == summary["planted_recovered"] - 1


def test_verdicts_follow_the_thresholds():
    settings = ProvenanceSettings(matched=0.97, margin=0.05, not_found=0.95)
    score = np.array([0.995, 0.995, 0.96, 0.93, np.nan, 0.99])
    second = np.array([0.8, 0.97, 0.5, 0.2, np.nan, np.nan])
    assert decide(score, second, settings).tolist() == [MATCHED, AMBIGUOUS, AMBIGUOUS, NOT_FOUND, NOT_FOUND, MATCHED]
    with pytest.raises(ConfigError, match="not_found"):
        ProvenanceSettings.from_config({"matched": 0.9, "not_found": 0.95})
    with pytest.raises(ConfigError, match="refine_radius"):
        ProvenanceSettings.from_config({"coarse_factor": 8, "refine_radius": 4})
    assert ProvenanceSettings.from_config({"enabled": True, "candidates": 2}).candidates == 2


def test_rules_write_table_summary_and_figure(synthetic, tmp_path):
    root, manifests, truth = synthetic
    outputs = {
        key: str(tmp_path / name) for key, name in (("table", "t.tsv"), ("summary", "s.tsv"), ("figure", "f.png"))
    }
    write_provenance(
        crops_manifest=str(manifests["allidb2"]),
        slides_manifest=str(manifests["allidb1"]),
        settings={"coarse_factor": 8, "candidates": 2},
        table_out=outputs["table"],
        summary_out=outputs["summary"],
        truth_path=str(root / "allidb2" / "truth.tsv"),
    )
    table = read_provenance(outputs["table"])
    assert (table["second_slide"] != "").all() and table["score"].dtype == float
    summary = pd.read_csv(outputs["summary"], sep="\t").iloc[0]
    assert summary["planted_recovered"] == summary["planted_from_slides"] == (truth["slide"].notna()).sum()
    write_provenance_figure(
        table_path=outputs["table"],
        crops_manifest=str(manifests["allidb2"]),
        slides_manifest=str(manifests["allidb1"]),
        count=4,
        synthetic=True,
        figure_out=outputs["figure"],
    )
    assert open(outputs["figure"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    examples = pick_examples(table, 4)
    assert len(examples) == min(4, (table["verdict"] == MATCHED).sum())
    assert set(examples["label"]) == set(table.loc[table["verdict"] == MATCHED, "label"])  # both classes shown
    # No match at all: the figure says so instead of failing.
    write_table_atomic(table.assign(verdict=NOT_FOUND), tmp_path / "none.tsv")
    write_provenance_figure(
        table_path=str(tmp_path / "none.tsv"),
        crops_manifest=str(manifests["allidb2"]),
        slides_manifest=str(manifests["allidb1"]),
        count=4,
        synthetic=True,
        figure_out=str(tmp_path / "none.png"),
    )
    assert (tmp_path / "none.png").stat().st_size > 1000


def test_bad_table_is_named(tmp_path):
    path = tmp_path / "p.tsv"
    pd.DataFrame({"crop": ["a"], "slide": ["b"], "second_slide": [""], "verdict": ["maybe"]}).to_csv(
        path, sep="\t", index=False
    )
    with pytest.raises(DatasetError, match="unknown verdicts"):
        read_provenance(str(path))


def test_jpeg_grey_is_the_block_mean_of_the_luma(synthetic):
    root, _, _ = synthetic
    slide = next((root / "allidb1" / "data").rglob("*.jpg"))
    full = to_grey(read_rgb(slide))
    for factor in (1, 3, 8):  # 3: no DCT-domain scale, decoded fully
        grey = read_grey(str(slide), factor)
        expected = block_mean(full, factor)
        assert grey.shape == expected.shape
        assert np.abs(grey - expected).max() < 2.0 and np.abs(grey - expected).mean() < 0.5
