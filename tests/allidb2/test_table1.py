"""Table I from per-fold predictions: counts, pooled row, paper columns, leak column."""

import numpy as np
import pandas as pd
import pytest

from leukoflow.allidb2.report_section import write_table1_page
from leukoflow.allidb2.table1 import build_table1
from leukoflow.core.splits import assign_bags

PAPER = {
    "source": "paper",
    "per_fold": {
        "tp": 936,
        "tn": 936,
        "fp": 0,
        "fn": 0,
        "accuracy": 1.0,
        "specificity": 1.0,
        "sensitivity": 1.0,
        "f_score": 1.0,
    },
}


def index_for(protocol):
    sources = np.repeat([f"Im{i:03d}_{i % 2}" for i in range(1, 21)], 6)
    labels = np.array([int(s[-1]) for s in sources])
    bags = assign_bags(sources, labels, 5, protocol, seed=0)
    return pd.DataFrame({"row": np.arange(len(sources)), "source_id": sources, "label": labels, "bag": bags})


def write_predictions(tmp_path, index, fold, test_bag, flip=0):
    rows = index[index["bag"] == test_bag].copy()
    rows["prob_all"] = np.where(rows["label"] == 1, 0.9, 0.1)
    rows.iloc[:flip, rows.columns.get_loc("prob_all")] = 1 - rows["prob_all"].iloc[:flip]
    rows["pred"] = (rows["prob_all"] >= 0.5).astype(int)
    path = tmp_path / f"fold{fold}.tsv"
    rows.to_csv(path, sep="\t", index=False)
    return path, rows


@pytest.mark.parametrize("protocol, leaky", [("leak_free", False), ("paper", True)])
def test_table1_rows(tmp_path, protocol, leaky):
    index = index_for(protocol)
    p1, rows1 = write_predictions(tmp_path, index, 1, test_bag=5, flip=2)
    p2, rows2 = write_predictions(tmp_path, index, 2, test_bag=4)
    table = build_table1([p1, p2], [1, 2], index, protocol, PAPER)
    assert list(table["fold"]) == [1, 2, "all"]
    first = table.iloc[0]
    assert first["tp"] + first["tn"] + first["fp"] + first["fn"] == len(rows1)
    assert first["accuracy"] == pytest.approx((len(rows1) - 2) / len(rows1))
    assert table.iloc[1]["accuracy"] == 1.0
    assert table.iloc[2]["n_test"] == len(rows1) + len(rows2)
    assert table.iloc[2]["tp"] == first["tp"] + table.iloc[1]["tp"]
    assert (table["paper_accuracy"] == 1.0).all()
    # The pooled row's paper counts are the per-fold counts summed over the same two folds.
    assert list(table["paper_tp"]) == [936, 936, 2 * 936]
    assert bool(table.iloc[0]["leaky"]) is leaky
    table_path = tmp_path / "table1.tsv"
    table.to_csv(table_path, sep="\t", index=False)
    write_table1_page(str(table_path), protocol, {"source": "synthetic", "dataset": "allidb2"}, tmp_path / "t.html")
    html = (tmp_path / "t.html").read_text()
    assert ("LEAKY" in html) is leaky
    assert "serve more than one fold" not in html  # folds 1 and 2 test different bags (B5, B4)
