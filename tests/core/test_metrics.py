"""Confusion-matrix metrics against scikit-learn and scipy; intervals; undefined cases."""

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from leukoflow.core.metrics import (
    binary_metrics,
    confusion_counts,
    roc_points,
    wilson_interval,
)

METRICS = ("accuracy", "specificity", "sensitivity", "precision", "f_score")


def labels_from_counts(tp, tn, fp, fn):
    """y_true, y_pred arrays (shuffled) realising a confusion matrix."""
    y_true = np.repeat([1, 0, 0, 1], [tp, tn, fp, fn])
    y_pred = np.repeat([1, 0, 1, 0], [tp, tn, fp, fn])
    order = np.random.default_rng(tp + 7 * fn).permutation(len(y_true))
    return y_true[order], y_pred[order]


def random_counts(n_matrices, seed=0, high=60):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, high, (n_matrices, 4))
    counts[rng.random((n_matrices, 4)) < 0.1] = 0  # some empty cells, to reach the edge cases
    return [tuple(int(c) for c in row) for row in counts if row.sum() > 0]


def test_confusion_counts_agree_with_sklearn():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, 500)
    y_pred = rng.integers(0, 2, 500)
    counts = confusion_counts(y_true, y_pred)
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    assert counts == {"tp": tp, "tn": tn, "fp": fp, "fn": fn}
    # positive label other than 1: string labels, everything else is negative
    names = np.where(y_true == 1, "ALL", "healthy")
    predicted = np.where(y_pred == 1, "ALL", "healthy")
    assert confusion_counts(names, predicted, positive="ALL") == counts
    swapped = confusion_counts(y_true, y_pred, positive=0)
    assert swapped == {"tp": tn, "tn": tp, "fp": fn, "fn": fp}


def test_confusion_counts_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="equal length"):
        confusion_counts([0, 1, 1], [0, 1])


@pytest.mark.parametrize("counts", random_counts(60))
def test_point_estimates_agree_with_sklearn(counts):
    tp, tn, fp, fn = counts
    y_true, y_pred = labels_from_counts(*counts)
    result = binary_metrics(tp, tn, fp, fn, n_boot=50)
    expected = {
        "accuracy": accuracy_score(y_true, y_pred),
        "sensitivity": recall_score(y_true, y_pred, pos_label=1, zero_division=np.nan),
        "specificity": recall_score(y_true, y_pred, pos_label=0, zero_division=np.nan),
        "precision": precision_score(y_true, y_pred, pos_label=1, zero_division=np.nan),
        "f_score": f1_score(y_true, y_pred, pos_label=1, zero_division=np.nan),
    }
    for name, value in expected.items():
        if math.isnan(value):
            assert math.isnan(result[name]), name
        else:
            assert result[name] == pytest.approx(value, abs=1e-12), name
    assert result["n"] == len(y_true)


@pytest.mark.parametrize("counts", random_counts(30, seed=2))
def test_intervals_contain_the_estimate(counts):
    result = binary_metrics(*counts, n_boot=500, seed=3)
    for name in METRICS:
        if math.isnan(result[name]):
            assert math.isnan(result[f"{name}_ci_low"]) and math.isnan(result[f"{name}_ci_high"])
            continue
        assert 0.0 <= result[f"{name}_ci_low"] <= result[name] <= result[f"{name}_ci_high"] <= 1.0, name


def test_intervals_shrink_as_n_grows():
    base = np.array([40, 35, 10, 15])
    widths = []
    for scale in (1, 10, 100):
        result = binary_metrics(*(int(c) for c in base * scale), n_boot=2000, seed=0)
        widths.append([result[f"{m}_ci_high"] - result[f"{m}_ci_low"] for m in METRICS])
        # same proportions at every scale: the point estimates do not move
        assert result["f_score"] == pytest.approx(2 * 40 / (2 * 40 + 10 + 15))
    widths = np.array(widths)
    assert (widths[1] < widths[0]).all() and (widths[2] < widths[1]).all()
    # roughly 1/sqrt(n): a hundredfold n gives about a tenth of the width
    assert np.allclose(widths[2] / widths[0], 0.1, rtol=0.35)


def test_narrower_confidence_level_gives_narrower_interval():
    wide = binary_metrics(50, 40, 6, 9, ci=0.95)
    narrow = binary_metrics(50, 40, 6, 9, ci=0.5)
    for name in METRICS:
        assert narrow[f"{name}_ci_high"] - narrow[f"{name}_ci_low"] < wide[f"{name}_ci_high"] - wide[f"{name}_ci_low"]


@pytest.mark.parametrize("successes, trials", [(0, 10), (3, 10), (10, 10), (87, 100), (1870, 1872), (5, 7)])
@pytest.mark.parametrize("ci", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(successes, trials, ci):
    reference = binomtest(successes, trials).proportion_ci(confidence_level=ci, method="wilson")
    low, high = wilson_interval(successes, trials, ci)
    assert low == pytest.approx(reference.low, abs=1e-10)
    assert high == pytest.approx(reference.high, abs=1e-10)


def test_wilson_textbook_value():
    # 81 of 263 with 95 %: Wilson interval 0.2553 .. 0.3662 (Newcombe 1998, Table I example)
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


def test_f_score_bootstrap_is_seeded():
    a = binary_metrics(30, 50, 8, 12, seed=1)
    b = binary_metrics(30, 50, 8, 12, seed=1)
    c = binary_metrics(30, 50, 8, 12, seed=2)
    assert a == b
    assert (a["f_score_ci_low"], a["f_score_ci_high"]) != (c["f_score_ci_low"], c["f_score_ci_high"])


def test_f_score_interval_of_a_perfect_score_is_not_a_point():
    # 4 ALL and 4 healthy slides all right: F = 1, but 8 slides cannot make it certain.
    perfect = binary_metrics(4, 4, 0, 0)
    assert perfect["f_score"] == perfect["f_score_ci_high"] == 1.0
    assert 0.5 < perfect["f_score_ci_low"] < 0.95
    # More evidence, narrower interval.
    assert binary_metrics(40, 40, 0, 0)["f_score_ci_low"] > perfect["f_score_ci_low"]


def test_f_score_interval_covers_the_true_value():
    # Coverage on simulated confusion matrices: close to the nominal 95%.
    rng = np.random.default_rng(0)
    truth = np.array([0.35, 0.45, 0.08, 0.12])  # tp, tn, fp, fn
    true_f = 2 * truth[0] / (2 * truth[0] + truth[2] + truth[3])
    hits = []
    for _ in range(300):
        tp, tn, fp, fn = (int(v) for v in rng.multinomial(60, truth))
        result = binary_metrics(tp, tn, fp, fn, n_boot=1000, seed=1)
        hits.append(result["f_score_ci_low"] <= true_f <= result["f_score_ci_high"])
    assert 0.90 <= np.mean(hits) <= 0.99


def test_zero_denominators_give_nan_not_errors():
    only_negatives = binary_metrics(0, 20, 0, 0)  # no positives anywhere
    assert only_negatives["accuracy"] == 1.0 and only_negatives["specificity"] == 1.0
    for name in ("sensitivity", "precision", "f_score"):
        assert math.isnan(only_negatives[name])
        assert math.isnan(only_negatives[f"{name}_ci_low"]) and math.isnan(only_negatives[f"{name}_ci_high"])

    never_predicted = binary_metrics(0, 10, 0, 5)  # positives exist but none predicted
    assert math.isnan(never_predicted["precision"])
    assert never_predicted["sensitivity"] == 0.0 and never_predicted["f_score"] == 0.0
    assert never_predicted["f_score_ci_low"] == 0.0 < never_predicted["f_score_ci_high"] < 0.6  # 5 positives only

    empty = binary_metrics(0, 0, 0, 0)
    assert all(math.isnan(empty[name]) for name in METRICS)
    assert empty["n"] == 0

    perfect = binary_metrics(25, 25, 0, 0)
    assert perfect["f_score"] == 1.0 and perfect["sensitivity_ci_high"] == 1.0
    assert perfect["sensitivity_ci_low"] < 1.0  # Wilson keeps a non-zero width at p = 1


def test_binary_metrics_rejects_bad_counts():
    with pytest.raises(ValueError, match="fp must be a non-negative integer"):
        binary_metrics(1, 2, -1, 0)
    with pytest.raises(ValueError, match="tp"):
        binary_metrics(1.5, 2, 1, 0)
    with pytest.raises(ValueError, match="ci"):
        binary_metrics(1, 2, 1, 0, ci=1.0)


def test_roc_points_agree_with_sklearn():
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 2, 400)
    scores = y_true * 0.8 + rng.normal(0, 0.6, 400)
    fpr, tpr, area = roc_points(y_true, scores)
    assert area == pytest.approx(roc_auc_score(y_true, scores))
    assert 0.7 < area < 1.0
    assert fpr[0] == 0 and tpr[-1] == 1 and (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
    assert roc_points(y_true, y_true.astype(float))[2] == 1.0
    assert roc_points(y_true, -scores)[2] == pytest.approx(1 - area)


def test_roc_points_needs_both_classes():
    with pytest.raises(ValueError, match="both"):
        roc_points([1, 1, 1], [0.2, 0.5, 0.9])


# --- multi-class and segmentation ------------------------------------------------------------


def test_multiclass_report_agrees_with_scikit_learn():
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    from leukoflow.core.metrics import multiclass_report

    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 3, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 3, 300))
    report = multiclass_report(y_true, y_pred, ["a", "b", "c"], groups=rng.integers(0, 30, 300), n_boot=200)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2])
    per_class = report.set_index("class").loc[["a", "b", "c"]]
    np.testing.assert_allclose(per_class[["precision", "recall", "f1"]].to_numpy(), np.stack([p, r, f], 1))
    assert per_class["support"].tolist() == s.tolist()
    for average in ("macro", "weighted"):
        expected = precision_recall_fscore_support(y_true, y_pred, average=average)[:3]
        row = report.set_index("class").loc[f"{average} avg"]
        np.testing.assert_allclose([row["precision"], row["recall"], row["f1"]], expected)
    accuracy = report.set_index("class").loc["accuracy"]
    assert accuracy["f1"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert (report["f1_ci_low"] <= report["f1"]).all() and (report["f1"] <= report["f1_ci_high"]).all()


def test_group_bootstrap_is_wider_when_groups_are_few():
    from leukoflow.core.metrics import multiclass_report

    # Cells of one subject are alike: two subjects scored well, two badly. Resampling cells as if
    # independent hides that; resampling subjects shows it.
    rng = np.random.default_rng(6)
    y_true = rng.integers(0, 2, 400)
    accurate = np.repeat([0.97, 0.95, 0.65, 0.6], 100)
    y_pred = np.where(rng.random(400) < accurate, y_true, 1 - y_true)
    by_sample = multiclass_report(y_true, y_pred, ["x", "y"], n_boot=400).set_index("class")
    by_group = multiclass_report(y_true, y_pred, ["x", "y"], groups=np.repeat(np.arange(4), 100), n_boot=400)
    width = lambda row: row["f1_ci_high"] - row["f1_ci_low"]  # noqa: E731
    assert width(by_group.set_index("class").loc["accuracy"]) > width(by_sample.loc["accuracy"])


def test_segmentation_metrics_agree_with_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score, jaccard_score, precision_score, recall_score

    from leukoflow.core.segmentation_metrics import pixel_counts, segmentation_metrics

    rng = np.random.default_rng(7)
    truth = rng.random((6, 20, 20)) < 0.3
    predicted = np.where(rng.random((6, 20, 20)) < 0.8, truth, ~truth)
    counts = pixel_counts(predicted, truth)
    assert counts.shape == (6, 4) and (counts.sum(axis=1) == 400).all()
    result = segmentation_metrics(counts, n_boot=200)
    t, p = truth.ravel(), predicted.ravel()
    assert result["pixel_accuracy"] == pytest.approx(accuracy_score(t, p))
    assert result["dice"] == pytest.approx(f1_score(t, p))
    assert result["iou"] == pytest.approx(jaccard_score(t, p))
    assert result["precision"] == pytest.approx(precision_score(t, p))
    assert result["recall"] == pytest.approx(recall_score(t, p))
    per_image = [f1_score(truth[i].ravel(), predicted[i].ravel()) for i in range(6)]
    assert result["mean_dice"] == pytest.approx(np.mean(per_image))
    assert result["dice_ci_low"] <= result["dice"] <= result["dice_ci_high"]
    with pytest.raises(ValueError, match="equal shape"):
        pixel_counts(predicted, truth[:, :10])


def subjects_with_effects(rng, n_subjects=24, cells=15, mean=0.8, spread=8.0):
    """Two-class predictions whose accuracy varies by subject (Beta around `mean`): cells of one
    subject are correlated, as on C-NMC and UKM-WBC."""
    p = rng.beta(mean * spread, (1 - mean) * spread, n_subjects)
    groups = np.repeat(np.arange(n_subjects), cells)
    y_true = np.repeat(rng.integers(0, 2, n_subjects), cells)  # one class per subject
    correct = rng.random(len(groups)) < p[groups]
    y_pred = np.where(correct, y_true, 1 - y_true)
    return y_true, y_pred, groups


def test_subject_bootstrap_matches_a_plain_resampling_of_subjects():
    # Reference: resample whole subjects with numpy and score each draw with scikit-learn.
    from leukoflow.core.metrics import multiclass_report

    rng = np.random.default_rng(3)
    y_true, y_pred, groups = subjects_with_effects(rng)
    ours = multiclass_report(y_true, y_pred, ["a", "b"], groups=groups, n_boot=4000, seed=0).set_index("class")
    draws, f1s = [], []
    subjects = np.unique(groups)
    reference_rng = np.random.default_rng(11)
    for _ in range(4000):
        chosen = reference_rng.choice(subjects, size=len(subjects), replace=True)
        rows = np.concatenate([np.flatnonzero(groups == s) for s in chosen])
        draws.append(accuracy_score(y_true[rows], y_pred[rows]))
        f1s.append(f1_score(y_true[rows], y_pred[rows], average="weighted"))
    for values, (row, column) in ((draws, ("accuracy", "f1")), (f1s, ("weighted avg", "f1"))):
        low, high = np.quantile(values, [0.025, 0.975])
        assert ours.loc[row, f"{column}_ci_low"] == pytest.approx(low, abs=0.015), row
        assert ours.loc[row, f"{column}_ci_high"] == pytest.approx(high, abs=0.015), row
    # Resampling cells instead would give a much narrower, overconfident interval.
    cells = multiclass_report(y_true, y_pred, ["a", "b"], n_boot=4000, seed=0).set_index("class")
    width = ours.loc["accuracy", "f1_ci_high"] - ours.loc["accuracy", "f1_ci_low"]
    assert cells.loc["accuracy", "f1_ci_high"] - cells.loc["accuracy", "f1_ci_low"] < 0.75 * width


def test_subject_bootstrap_covers_the_population_accuracy():
    # Coverage on simulated subjects: the population accuracy (the mean subject accuracy, every
    # subject with the same number of cells) lies inside the 95% interval in about 95% of runs;
    # the cell-level bootstrap, blind to the subject effect, covers it far less often.
    from leukoflow.core.metrics import multiclass_report

    rng = np.random.default_rng(5)
    hits, naive_hits = [], []
    for _ in range(150):
        y_true, y_pred, groups = subjects_with_effects(rng)
        row = multiclass_report(y_true, y_pred, ["a", "b"], groups=groups, n_boot=400, seed=1).iloc[-1]
        hits.append(row["f1_ci_low"] <= 0.8 <= row["f1_ci_high"])
        naive = multiclass_report(y_true, y_pred, ["a", "b"], n_boot=400, seed=1).iloc[-1]
        naive_hits.append(naive["f1_ci_low"] <= 0.8 <= naive["f1_ci_high"])
    assert 0.88 <= np.mean(hits) <= 0.99, np.mean(hits)
    assert np.mean(naive_hits) < np.mean(hits) - 0.1, (np.mean(naive_hits), np.mean(hits))


def test_grouped_auc_matches_a_plain_resampling_of_subjects():
    # Reference: resample whole subjects with numpy, score each draw with scikit-learn's AUC.
    from leukoflow.core.metrics import grouped_auc

    rng = np.random.default_rng(4)
    y_true, _, groups = subjects_with_effects(rng)
    subject_shift = rng.normal(0, 1.0, groups.max() + 1)[groups]  # scores correlated within a subject
    scores = y_true + subject_shift + rng.normal(0, 0.8, len(y_true))
    auc, low, high = grouped_auc(y_true, scores, groups, n_boot=3000, seed=0)
    assert auc == pytest.approx(roc_auc_score(y_true, scores))
    subjects, draws = np.unique(groups), []
    reference_rng = np.random.default_rng(12)
    members = [np.flatnonzero(groups == s) for s in subjects]
    for _ in range(1500):
        rows = np.concatenate([members[s] for s in reference_rng.choice(subjects, len(subjects))])
        if len(np.unique(y_true[rows])) == 2:
            draws.append(roc_auc_score(y_true[rows], scores[rows]))
    reference = np.quantile(draws, [0.025, 0.975])
    assert (low, high) == pytest.approx(tuple(reference), abs=0.025)
    # Resampling cells instead gives a narrower, overconfident interval.
    _, cell_low, cell_high = grouped_auc(y_true, scores, np.arange(len(y_true)), n_boot=3000, seed=0)
    assert cell_high - cell_low < 0.75 * (high - low)
    # One class only: undefined, not an error.
    assert all(math.isnan(v) for v in grouped_auc(np.ones(4), np.arange(4.0), np.arange(4)))
    with pytest.raises(ValueError, match="equal lengths"):
        grouped_auc([0, 1], [0.1, 0.9], [0])


def test_weighted_auc_equals_scikit_learn_with_sample_weights_and_ties():
    from leukoflow.core.metrics import _weighted_auc

    rng = np.random.default_rng(8)
    y_true = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(y_true, 1.0), 1)  # many ties
    weights = rng.integers(0, 4, (5, 300)).astype(float)
    expected = [roc_auc_score(y_true, scores, sample_weight=w) for w in weights]
    np.testing.assert_allclose(_weighted_auc(y_true, scores, weights), expected, rtol=1e-12)
