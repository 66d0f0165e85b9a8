"""The protocol table: one method under the split by subject and the split by cell, each row
recomputed with scikit-learn, the leak's inflation read off the right rows."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from leukoflow.cnmc.protocols import inflation, protocol_table, write_protocol_table
from leukoflow.core.errors import DatasetError

MEMBERS = ("A", "B", "combined", "ensemble")


def predictions(rng, role_quality: dict[str, float], subjects=6, cells=10):
    """Cells of `subjects` subjects per role; P(ALL) more informative where the quality is higher."""
    rows = []
    for role, quality in role_quality.items():
        for subject in range(subjects):
            label = subject % 2
            for cell in range(cells):
                row = {"id": f"{role}_{subject}_{cell}", "source_id": f"{role}{subject}", "label": label, "role": role}
                for member in MEMBERS:
                    p = 1 / (1 + np.exp(-(quality * (2 * label - 1) + rng.normal(0, 1.5))))
                    row[f"prob_all_{member}"] = p
                    row[f"pred_{member}"] = int(p > 0.5)
                rows.append(row)
    return pd.DataFrame(rows)


def split(protocol, scored, shared):
    return {"protocol": protocol, "leaky": protocol == "cell", "scored": scored, "shared_subjects": shared}


@pytest.fixture
def runs():
    rng = np.random.default_rng(0)
    return {
        "cell": (
            predictions(rng, {"held_out": 2.0, "test": 0.6}),
            split(
                "cell", {"test": "prelim_test", "held_out": "held_out_cells"}, {"train_test": 0, "train_held_out": 6}
            ),
        ),
        "subject": (predictions(rng, {"test": 1.0}), split("subject", {"test": "prelim_test"}, {"train_test": 0})),
    }


def test_rows_are_recomputed_by_scikit_learn_and_the_gap_is_the_cell_splits(runs):
    table = protocol_table(runs, n_boot=200, seed=0)
    order = list(zip(table["protocol"], table["scored_on"], strict=True))
    assert order == [("subject", "prelim_test")] * 4 + [("cell", "held_out_cells")] * 4 + [("cell", "prelim_test")] * 4
    for _, row in table.iterrows():
        frame, _ = runs[row["protocol"]]
        role = "held_out" if row["scored_on"] == "held_out_cells" else "test"
        cells = frame[frame["role"] == role]
        column = {"model-A": "A", "model-B": "B"}.get(row["model"], row["model"])
        assert row["weighted_f1"] == pytest.approx(
            f1_score(cells["label"], cells[f"pred_{column}"], average="weighted")
        )
        assert row["auc"] == pytest.approx(roc_auc_score(cells["label"], cells[f"prob_all_{column}"]))
        assert row["weighted_f1_ci_low"] <= row["weighted_f1"] <= row["weighted_f1_ci_high"]
        assert row["auc_ci_low"] <= row["auc"] <= row["auc_ci_high"]
        assert row["n_cells"] == len(cells) and row["n_subjects"] == 6
    seen = table.groupby("scored_on")["subjects_seen_in_training"].max()
    assert seen.to_dict() == {"held_out_cells": 6, "prelim_test": 0}
    assert table["leaky"].tolist() == [False] * 4 + [True] * 8
    ensemble = table[(table["model"] == "ensemble") & (table["protocol"] == "cell")].set_index("scored_on")
    gap = inflation(table)
    assert gap["auc"] == pytest.approx(ensemble.loc["held_out_cells", "auc"] - ensemble.loc["prelim_test", "auc"])
    assert gap["auc"] > 0.1  # the planted inflation: held-out cells are far easier here
    assert np.isnan(inflation(table[table["protocol"] == "subject"])["auc"])


def test_writer_refuses_a_split_summary_of_the_other_protocol(runs, tmp_path):
    paths, splits = {}, {}
    for protocol, (frame, summary) in runs.items():
        paths[protocol] = str(tmp_path / f"{protocol}.tsv")
        frame.to_csv(paths[protocol], sep="\t", index=False)
        splits[protocol] = str(tmp_path / f"{protocol}.json")
        (tmp_path / f"{protocol}.json").write_text(json.dumps(summary))
    common = {"source": {"source": "synthetic"}, "method": "ours", "n_boot": 50, "seed": 0}
    table = write_protocol_table(
        predictions_paths=paths, split_paths=splits, table_out=str(tmp_path / "t.tsv"), **common
    )
    assert (table["method"] == "ours").all() and (table["data"] == "synthetic").all()
    assert pd.read_csv(tmp_path / "t.tsv", sep="\t")["scored_on_text"].str.contains("LEAKY").sum() == 4
    swapped = {"cell": splits["subject"], "subject": splits["cell"]}
    with pytest.raises(DatasetError) as info:
        write_protocol_table(predictions_paths=paths, split_paths=swapped, table_out=str(tmp_path / "u.tsv"), **common)
    assert info.value.path == splits["subject"] and "protocol 'cell'" in info.value.problem
