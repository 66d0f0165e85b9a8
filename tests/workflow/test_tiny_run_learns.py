"""The shared tiny run must learn: Table I's per-cell accuracy clearly above chance, so that a broken
alignment of ids, labels and probabilities in the prediction files cannot pass unnoticed."""

import pandas as pd
import pytest


@pytest.mark.slow
def test_table1_per_cell_accuracy_is_clearly_above_chance(tiny_run):
    table = pd.read_csv(tiny_run.results / "tables" / "table1_paper.tsv", sep="\t", dtype={"fold": str})
    pooled = table[table["fold"] == "all"].iloc[0]
    # The paper protocol deals every cell's copies into every bag, so the test bag scores (almost)
    # every cell; with its copies in training, a working pipeline gets nearly all of them right.
    assert pooled["test_sources"] >= 10
    assert pooled["source_accuracy"] >= 0.8, pooled[["source_accuracy", "accuracy", "test_sources"]].to_dict()
    predictions = pd.read_csv(tiny_run.results / "allidb2" / "paper" / "fold1" / "test_predictions.tsv", sep="\t")
    # Labels follow the ids (ImXXX_1 is ALL): a shuffled file would break this before the accuracy.
    assert (predictions["label"] == predictions["id"].str.endswith("_1").astype(int)).all()
