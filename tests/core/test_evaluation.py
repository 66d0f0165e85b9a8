"""Per-fold rows, the pooled row and the paper's columns (leukoflow.core.evaluation)."""

import numpy as np
import pytest
from scipy.stats import binomtest

from leukoflow.core.evaluation import binary_row, pooled_note, with_pooled_row
from leukoflow.core.metrics import binary_metrics


def test_binary_row_counts_and_intervals():
    row = binary_row([1, 1, 0, 0, 1], [1, 0, 0, 1, 1], seed=3)
    assert (row["tp"], row["tn"], row["fp"], row["fn"], row["n_test"]) == (2, 1, 1, 1, 5)
    expected = binary_metrics(tp=2, tn=1, fp=1, fn=1, seed=3)
    for name in ("accuracy", "specificity", "sensitivity", "f_score"):
        assert row[name] == pytest.approx(expected[name])
        assert row[f"{name}_ci_low"] == pytest.approx(expected[f"{name}_ci_low"])
        assert row[f"{name}_ci_high"] == pytest.approx(expected[f"{name}_ci_high"])
    # Proportions: scipy's Wilson score interval, e.g. accuracy 3 of 5.
    reference = binomtest(3, 5).proportion_ci(confidence_level=0.95, method="wilson")
    assert (row["accuracy_ci_low"], row["accuracy_ci_high"]) == pytest.approx((reference.low, reference.high))
    assert set(binary_row([1], [1], metrics=("accuracy",))) == {
        "n_test",
        "tp",
        "tn",
        "fp",
        "fn",
        "accuracy",
        "accuracy_ci_low",
        "accuracy_ci_high",
    }


def test_pooled_row_sums_counts_and_recomputes_metrics():
    rows = [
        {"fold": 1, **binary_row([1, 1, 0, 0], [1, 1, 0, 0]), "leaks": 2},
        {"fold": 2, **binary_row([1, 0, 0, 0], [0, 0, 1, 0]), "leaks": 0},
    ]
    paper = {"tp": 936, "tn": 936, "fp": 0, "fn": 0, "accuracy": 1.0}
    table = with_pooled_row(rows, sum_columns=("n_test", "leaks"), paper=paper)
    pooled = table.iloc[-1]
    assert pooled["fold"] == "all"
    assert (pooled["tp"], pooled["tn"], pooled["fp"], pooled["fn"]) == (2, 4, 1, 1)
    assert pooled["n_test"] == 8 and pooled["leaks"] == 2  # computed, not written
    assert pooled["accuracy"] == pytest.approx(6 / 8)
    # Per-fold rows carry the paper's per-fold counts; the pooled row their sum over the same folds.
    assert table["paper_tp"].tolist() == [936, 936, 1872]
    assert table["paper_accuracy"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="at least one fold"):
        with_pooled_row([])


def test_pooled_note_says_when_a_test_set_serves_two_folds():
    assert "counts once" in pooled_note(["B5", "B4"])
    assert "serve more than one fold" in pooled_note(["B5", "B4", "B1", "B5"])
    assert np.isfinite(len(pooled_note([])))
