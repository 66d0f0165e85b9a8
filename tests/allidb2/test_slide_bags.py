"""Leak-free bags with the measured provenance: every crop of one slide in one bag; Table I says so."""

import numpy as np
import pandas as pd
import pytest

from leukoflow.allidb2.bags import PAPER_GROUPING, SLIDE_GROUPING, SOURCE_GROUPING, build_augmented_bags, crop_groups
from leukoflow.allidb2.table1 import build_table1
from leukoflow.core.errors import DatasetError
from leukoflow.core.io import write_table_atomic
from leukoflow.data.readers import scan
from leukoflow.data.synthetic import write_allidb2


def provenance_row(crop, slide="", verdict="not found", second=""):
    return {"crop": crop, "slide": slide, "x": 0, "y": 0, "score": 0.5, "second_slide": second, "verdict": verdict}


def test_crop_groups_join_slides_and_keep_unfound_crops_alone():
    provenance = pd.DataFrame(
        [
            provenance_row("c1", "S1", "matched"),
            provenance_row("c2", "S1", "matched"),
            provenance_row("c3", "S2", "matched"),
            provenance_row("c4", "S3", "ambiguous", second="S2"),  # S2 and S3 cannot be told apart
            provenance_row("c5", "S4", "not found", second="S1"),
            provenance_row("c6", "S5", "matched", second="S1"),
        ]
    )
    groups, grouping = crop_groups(["c1", "c2", "c3", "c4", "c5", "c6"], provenance)
    assert grouping == SLIDE_GROUPING
    assert groups.tolist() == ["slide:S1", "slide:S1", "slide:S2", "slide:S2", "crop:c5", "slide:S5"]
    plain, grouping = crop_groups(["c1", "c2"], None)
    assert grouping == SOURCE_GROUPING and plain.tolist() == ["c1", "c2"]
    with pytest.raises(ValueError, match="missing from the provenance"):
        crop_groups(["c1", "c9"], provenance)


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("slide_bags")
    data = write_allidb2(root / "synthetic", n_all=10, n_healthy=10, odd_sizes=False, seed=4)
    path = root / "allidb2.tsv"
    write_table_atomic(scan("allidb2", data).manifest, path)
    return path


def build(tmp_path, manifest_path, protocol, provenance_path=None):
    return build_augmented_bags(
        str(manifest_path),
        [str(tmp_path / f"bag{b}.pt") for b in range(1, 6)],
        str(tmp_path / "index.tsv"),
        protocol=protocol,
        angles_deg=[0, 180],
        mirror=False,
        frame=257,
        input_size=33,
        seed=1,
        provenance_path=provenance_path,
    )


def test_leak_free_bags_keep_every_crop_of_one_slide_together(tmp_path, manifest_path):
    ids = pd.read_csv(manifest_path, sep="\t")["id"].tolist()
    # Six slides give 2-4 crops each, one of them both classes (a lymphocyte beside blasts); the
    # last crops come from no slide.
    slides = ["A", "A", "A", "B", "B", "C", "C", "D", "D", "E", "A", "E", "F", "F", "F"]
    rows = [provenance_row(crop, slide, "matched") for crop, slide in zip(ids, slides)]
    rows += [provenance_row(crop) for crop in ids[len(slides) :]]
    path = tmp_path / "provenance.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    index = build(tmp_path, manifest_path, "leak_free", str(path))
    slide_of = dict(zip(ids, slides))
    index["slide"] = index["id"].map(slide_of)
    assert (index.dropna(subset=["slide"]).groupby("slide")["bag"].nunique() == 1).all()
    assert index.loc[index["slide"] == "A", "label"].nunique() == 2  # a mixed slide stays whole
    assert (index.groupby("id")["bag"].nunique() == 1).all()
    assert set(index["grouping"]) == {SLIDE_GROUPING}
    assert index["group"].nunique() == 6 + (len(ids) - len(slides))
    # Table I names the grouping its bags used.
    test = index[index["bag"] == 5].assign(prob_all=0.9, pred=1)
    predictions = tmp_path / "fold1.tsv"
    test.to_csv(predictions, sep="\t", index=False)
    table = build_table1([predictions], [1], index, "leak_free")
    assert set(table["grouping"]) == {SLIDE_GROUPING}


def test_without_provenance_or_under_the_paper_protocol(tmp_path, manifest_path):
    assert set(build(tmp_path, manifest_path, "leak_free")["grouping"]) == {SOURCE_GROUPING}
    assert set(build(tmp_path, manifest_path, "paper")["grouping"]) == {PAPER_GROUPING}
    stale = tmp_path / "stale.tsv"
    pd.DataFrame([provenance_row("Im001_1", "A", "matched")]).to_csv(stale, sep="\t", index=False)
    with pytest.raises(DatasetError, match="stale.tsv.*missing from the provenance"):
        build(tmp_path, manifest_path, "leak_free", str(stale))


def test_bags_stay_roughly_balanced_with_slide_groups(tmp_path, manifest_path):
    ids = pd.read_csv(manifest_path, sep="\t")["id"].tolist()
    rows = [provenance_row(crop, f"S{i // 2}", "matched") for i, crop in enumerate(ids)]  # pairs of crops
    path = tmp_path / "pairs.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    index = build(tmp_path, manifest_path, "leak_free", str(path))
    sizes = index.groupby("bag").size()
    assert len(sizes) == 5 and np.ptp(sizes.to_numpy()) <= 2 * 2  # within two pairs of copies
