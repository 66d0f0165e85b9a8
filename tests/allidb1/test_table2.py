"""Slide verdicts, Table II and cell-level matching on known inputs."""

import numpy as np
import pandas as pd
import pytest

from leukoflow.allidb1.table2 import apply_overlap, cell_level, slide_verdict, slide_verdicts, table2_rows

PAPER = {
    "source": "paper",
    "values": {
        "tp": 49,
        "tn": 56,
        "fp": 3,
        "fn": 0,
        "accuracy": 0.9722,
        "specificity": 0.9492,
        "sensitivity": 1.0,
        "f_score": 0.9703,
    },
}


def manifest(tmp_path):
    rows = []
    blasts = {"Im001_1": [(100, 100), (400, 300)], "Im002_1": [(50, 60)], "Im003_0": [], "Im004_0": []}
    for slide, points in blasts.items():
        xyc = tmp_path / f"{slide}.xyc"
        xyc.write_text("\n".join(f"{x}\t{y}" for x, y in points))
        rows.append(
            {
                "id": slide,
                "label": int(slide[-1]),
                "width": 2592,
                "height": 1944,
                "n_annotations": len(points),
                "annotation": str(xyc),
            }
        )
    return pd.DataFrame(rows)


def patches():
    return pd.DataFrame(
        [
            ("Im001_1", 105, 98, 0.9, 1),  # matches blast (100, 100)
            ("Im001_1", 900, 900, 0.8, 1),  # false positive
            ("Im001_1", 400, 305, 0.2, 0),  # blast missed (classified normal)
            ("Im002_1", 500, 500, 0.3, 0),  # slide with no abnormal patch
            ("Im003_0", 10, 10, 0.7, 1),  # healthy slide called positive
        ],
        columns=["slide", "x", "y", "prob_all", "abnormal"],
    )


def test_verdicts_count_abnormal_patches(tmp_path):
    verdicts = slide_verdicts(manifest(tmp_path), patches(), ["Im001_1", "Im002_1", "Im003_0", "Im004_0"], k=1)
    assert verdicts.set_index("slide")["verdict"].to_dict() == {"Im001_1": 1, "Im002_1": 0, "Im003_0": 1, "Im004_0": 0}
    assert verdicts.set_index("slide").loc["Im004_0", "n_patches"] == 0
    strict = slide_verdicts(manifest(tmp_path), patches(), ["Im001_1", "Im002_1", "Im003_0", "Im004_0"], k=2)
    assert strict.set_index("slide")["verdict"].to_dict()["Im001_1"] == 1
    assert strict.set_index("slide")["verdict"].to_dict()["Im003_0"] == 0


def test_rejected_slide_is_recorded_not_scored(tmp_path):
    verdicts = slide_verdicts(manifest(tmp_path), patches(), ["Im001_1", "Im999_1"], k=1)
    assert verdicts.set_index("slide").loc["Im999_1", "status"] == "rejected from manifest"
    table = table2_rows(apply_overlap(verdicts, "note", []), PAPER, "note")
    assert table.iloc[0]["n_slides"] == 1


def test_table2_counts_and_paper_columns(tmp_path):
    verdicts = apply_overlap(
        slide_verdicts(manifest(tmp_path), patches(), ["Im001_1", "Im002_1", "Im003_0", "Im004_0"], 1), "note", []
    )
    row = table2_rows(verdicts, PAPER, "note").iloc[0]
    assert (row["tp"], row["tn"], row["fp"], row["fn"]) == (1, 1, 1, 1)
    assert row["accuracy"] == pytest.approx(0.5)
    assert row["accuracy_ci_low"] < 0.5 < row["accuracy_ci_high"]
    assert row["paper_accuracy"] == pytest.approx(0.9722)


def test_extra_subsets_add_rows(tmp_path):
    verdicts = apply_overlap(
        slide_verdicts(manifest(tmp_path), patches(), ["Im001_1", "Im002_1", "Im003_0", "Im004_0"], 1), "note", []
    )
    table = table2_rows(verdicts, PAPER, "note", extra_subsets={"slides unseen by the models": ["Im001_1", "Im004_0"]})
    assert table["subset"].tolist() == ["all scored slides", "slides unseen by the models"]
    assert table["n_slides"].tolist() == [4, 2] and table.iloc[1][["tp", "tn", "fp", "fn"]].tolist() == [1, 1, 0, 0]


def test_overlap_modes(tmp_path):
    base = slide_verdicts(manifest(tmp_path), patches(), ["Im001_1", "Im002_1", "Im003_0", "Im004_0"], 1)
    excluded = apply_overlap(base, "exclude", ["Im003_0"])
    assert table2_rows(excluded, PAPER, "exclude").iloc[0]["n_slides"] == 3
    separate = table2_rows(apply_overlap(base, "separate", ["Im003_0"]), PAPER, "separate")
    assert list(separate["n_slides"]) == [3, 1]


def test_cell_level_matching(tmp_path):
    m = manifest(tmp_path)
    verdicts = slide_verdicts(m, patches(), ["Im001_1", "Im002_1", "Im003_0", "Im004_0"], 1)
    truth = pd.DataFrame(
        {"image_id": ["Im001_1", "Im001_1", "Im001_1", "Im002_1"], "x": [100, 400, 900, 50], "y": [100, 300, 900, 60]}
    )
    radius = dict.fromkeys(["Im001_1", "Im002_1", "Im003_0", "Im004_0"], 30.0)  # per slide (cell units x diameter)
    per_slide, pooled = cell_level(verdicts, patches(), m, radius_px=radius, truth=truth)
    blast_row = pooled.iloc[0]
    # abnormal: Im001_1 (105,98) tp, (900,900) fp; blasts missed: (400,300), (50,60); Im003_0 abnormal fp
    assert (blast_row["tp"], blast_row["fp"], blast_row["fn"]) == (1, 2, 2)
    assert blast_row["precision"] == pytest.approx(1 / 3) and blast_row["recall"] == pytest.approx(1 / 3)
    located = pooled.iloc[1]
    # every detection counts for localisation: Im001_1 finds all 3 cells, Im002_1's patch is far away
    assert located["tp"] == 3 and located["recall"] == pytest.approx(3 / 4)
    assert np.all(per_slide["radius_px"] == 30)


@pytest.mark.parametrize(
    "n_abnormal, k, expected", [(0, 1, False), (1, 1, True), (5, 1, True), (2, 3, False), (3, 3, True)]
)
def test_slide_verdict_counts(n_abnormal, k, expected):
    assert slide_verdict(n_abnormal, k) is expected


def test_slide_verdict_rejects_bad_counts():
    with pytest.raises(ValueError):
        slide_verdict(1, 0)
    with pytest.raises(ValueError):
        slide_verdict(-1)
