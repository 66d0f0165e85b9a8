"""Table 1: per-class and weighted precision, recall and F1 agree with scikit-learn; CIs by subject."""

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from leukoflow.cnmc.tables import build_table, model_rows, subject_table
from leukoflow.core.metrics import multiclass_report

MODELS = ("A", "B", "combined", "ensemble")


def predictions(n=300, seed=0):
    rng = np.random.default_rng(seed)
    subjects = rng.integers(0, 12, n)
    label = (subjects < 8).astype(int)  # subjects 0-7 ALL, 8-11 HEM
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(n)], "source_id": subjects.astype(str), "label": label})
    frame["class_name"] = np.where(label == 1, "ALL", "HEM")
    for k, model in enumerate(MODELS):
        flip = rng.random(n) < 0.1 + 0.05 * k
        frame[f"pred_{model}"] = np.where(flip, 1 - label, label)
    return frame


def test_weighted_f1_agrees_with_scikit_learn():
    frame = predictions()
    rows = model_rows(frame, "ensemble", n_boot=200, seed=0).set_index("class")
    assert list(rows.index) == ["HEM", "ALL", "weighted avg"]
    p, r, f, s = precision_recall_fscore_support(frame["label"], frame["pred_ensemble"], labels=[0, 1])
    for index, name in enumerate(("HEM", "ALL")):
        assert np.allclose(
            rows.loc[name, ["precision", "recall", "f1"]].to_numpy(float), [p[index], r[index], f[index]]
        )
        assert rows.loc[name, "support"] == s[index]
    weighted = precision_recall_fscore_support(frame["label"], frame["pred_ensemble"], average="weighted")
    assert np.allclose(rows.loc["weighted avg", ["precision", "recall", "f1"]].to_numpy(float), weighted[:3])
    # The intervals are the subject bootstrap's (whole subjects resampled), not a cell bootstrap's.
    by_subject = multiclass_report(
        frame["label"], frame["pred_ensemble"], ["HEM", "ALL"], groups=frame["source_id"], n_boot=200, seed=0
    ).set_index("class")
    by_cell = multiclass_report(frame["label"], frame["pred_ensemble"], ["HEM", "ALL"], n_boot=200, seed=0)
    for metric in ("precision", "recall", "f1"):
        for bound in ("_ci_low", "_ci_high"):
            expected = by_subject.loc[["HEM", "ALL", "weighted avg"], metric + bound].to_numpy(float)
            np.testing.assert_allclose(rows[metric + bound].to_numpy(float), expected)
    assert not np.allclose(
        rows["f1_ci_low"].to_numpy(float), by_cell.set_index("class").loc[list(rows.index), "f1_ci_low"]
    )


def test_table_blocks_and_the_papers_values():
    split = {"evaluation": "prelim_test", "protocol": "subject", "leaky": False}
    table = build_table(predictions(), split, n_boot=100)
    assert table["model"].tolist() == [m for m in ("ensemble", "model-A", "model-B", "combined") for _ in range(3)]
    paper = table[table["model"] == "ensemble"].set_index("class")
    assert paper.loc["weighted avg", "paper_f1"] == 0.84 and paper.loc["HEM", "paper_support"] == 648
    assert table.loc[table["model"] != "ensemble", "paper_f1"].isna().all()
    assert (table["n_subjects"] == 12).all() and not table["leaky"].any()
    # the bootstrap over 12 subjects is wider than one over 300 independent cells would be
    weighted = table[(table["model"] == "ensemble") & (table["class"] == "weighted avg")].iloc[0]
    assert weighted["f1_ci_high"] - weighted["f1_ci_low"] > 0.02


def test_per_subject_accuracy():
    frame = predictions()
    table = subject_table(frame)
    assert len(table) == 12 and table["n_cells"].sum() == len(frame)
    subject = frame[frame["source_id"] == table["subject"].iloc[0]]
    assert np.isclose(table["accuracy_A"].iloc[0], (subject["pred_A"] == subject["label"]).mean())
