"""Bags and folds: Table I, balanced leak-free and paper assignments, leak reports."""

import warnings

import numpy as np
import pytest

from leukoflow.core.splits import BAG_FOLDS, UnevenBagsWarning, assign_bags, fold_masks, leak_report

# Table I of Ghosh, Singh & Sheet (2017), transcribed as text so the constant is checked against
# an independent spelling: "train / val / test".
TABLE_I_TEXT = """
B1,B2,B3 / B4 / B5
B1,B2,B3 / B5 / B4
B2,B3,B4 / B5 / B1
B2,B3,B4 / B1 / B5
B3,B4,B5 / B1 / B2
B3,B4,B5 / B2 / B1
B4,B5,B1 / B2 / B3
B4,B5,B1 / B3 / B2
B5,B1,B2 / B3 / B4
B5,B1,B2 / B4 / B3
"""


def parse_table(text):
    folds = []
    for line in text.strip().splitlines():
        train, val, test = (part.strip() for part in line.split("/"))
        folds.append((tuple(int(b[1:]) for b in train.split(",")), int(val[1:]), int(test[1:])))
    return tuple(folds)


def allidb2_rows():
    """260 sources x 36 augmented copies; Im001-130 ALL (1), Im131-260 healthy (0)."""
    source = np.repeat(np.arange(1, 261), 36)
    ids = np.array([f"Im{s:03d}_{int(s <= 130)}" for s in range(1, 261)])[source - 1]
    labels = (source <= 130).astype(int)
    return ids, labels


def test_table_i_folds_match_the_paper():
    assert BAG_FOLDS == parse_table(TABLE_I_TEXT)
    tests = [test for _, _, test in BAG_FOLDS]
    vals = [val for _, val, _ in BAG_FOLDS]
    assert sorted(tests) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # every bag is test exactly twice
    assert sorted(vals) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    for train, val, test in BAG_FOLDS:  # the three roles are disjoint and cover all bags
        assert sorted((*train, val, test)) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("protocol", ["leak_free", "paper"])
def test_allidb2_bag_sizes_and_class_balance(protocol):
    ids, labels = allidb2_rows()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnevenBagsWarning)  # 130 per class divides by 5: no warning
        bags = assign_bags(ids, labels, protocol=protocol)
    assert bags.dtype.kind == "i" and set(np.unique(bags)) == {1, 2, 3, 4, 5}
    assert np.bincount(bags, minlength=6)[1:].tolist() == [1872] * 5
    for label in (0, 1):
        assert np.bincount(bags[labels == label], minlength=6)[1:].tolist() == [936] * 5


def test_leak_free_keeps_sources_whole_26_per_class_per_bag():
    ids, labels = allidb2_rows()
    bags = assign_bags(ids, labels, protocol="leak_free")
    for source in np.unique(ids):
        assert len(np.unique(bags[ids == source])) == 1
    first = np.unique(ids, return_index=True)[1]
    for label in (0, 1):
        per_bag = np.bincount(bags[first][labels[first] == label], minlength=6)[1:]
        assert per_bag.tolist() == [26] * 5
    for fold in range(1, 11):
        report = leak_report(ids, bags, fold)
        assert report["train_test_shared"] == report["train_val_shared"] == report["val_test_shared"] == 0


def test_paper_protocol_leaks_on_every_fold():
    ids, labels = allidb2_rows()
    bags = assign_bags(ids, labels, protocol="paper")
    for fold in range(1, 11):
        report = leak_report(ids, bags, fold)
        assert report["fold"] == fold
        assert report["train_test_shared"] > 0
        assert report["val_test_shared"] > 0
        # 36 copies over 5 bags: practically every test source also has copies in training
        assert report["fraction_test_groups_in_train"] > 0.9


@pytest.mark.parametrize("seed", range(8))
def test_leak_free_never_splits_a_group_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(5, 80))
    n_bags = int(rng.integers(2, 7))
    group_labels = rng.integers(0, int(rng.integers(2, 4)), n_groups)
    group_sizes = rng.integers(1, 12, n_groups)
    groups = np.repeat(np.array([f"g{i}" for i in range(n_groups)]), group_sizes)
    labels = np.repeat(group_labels, group_sizes)
    order = rng.permutation(len(groups))  # rows in arbitrary order
    groups, labels = groups[order], labels[order]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnevenBagsWarning)
        bags = assign_bags(groups, labels, n_bags=n_bags, seed=seed)
    assert bags.min() >= 1 and bags.max() <= n_bags
    unique_groups, inverse = np.unique(groups, return_inverse=True)
    bags_per_group = np.zeros((len(unique_groups), n_bags + 1), dtype=bool)
    bags_per_group[inverse, bags] = True
    assert (bags_per_group.sum(axis=1) == 1).all()
    # stratified: within every class, group counts per bag differ by at most one
    group_bag = bags_per_group.argmax(axis=1)
    group_label = np.zeros(len(unique_groups), dtype=int)
    group_label[inverse] = labels
    for label in np.unique(group_label):
        counts = np.bincount(group_bag[group_label == label], minlength=n_bags + 1)[1:]
        assert counts.max() - counts.min() <= 1
    total = np.bincount(group_bag, minlength=n_bags + 1)[1:]
    assert total.max() - total.min() <= 1


def test_uneven_counts_are_spread_and_announced():
    groups = np.arange(23)
    labels = groups % 2  # 12 of class 0, 11 of class 1
    with pytest.warns(UnevenBagsWarning, match="12 groups.*11 groups"):
        bags = assign_bags(groups, labels, n_bags=5)
    assert sorted(np.bincount(bags)[1:].tolist()) == [4, 4, 5, 5, 5]


def test_determinism_by_seed_and_independence_of_row_order():
    ids, labels = allidb2_rows()
    for protocol in ("leak_free", "paper"):
        first = assign_bags(ids, labels, protocol=protocol, seed=7)
        assert np.array_equal(first, assign_bags(ids, labels, protocol=protocol, seed=7))
        assert not np.array_equal(first, assign_bags(ids, labels, protocol=protocol, seed=8))
    order = np.random.default_rng(0).permutation(len(ids))
    shuffled = assign_bags(ids[order], labels[order], seed=7)
    assert np.array_equal(shuffled, assign_bags(ids, labels, seed=7)[order])


def test_fold_masks_follow_table_i():
    bags = np.repeat(np.arange(1, 6), 3)
    for fold, (train_bags, val_bag, test_bag) in enumerate(BAG_FOLDS, start=1):
        train, val, test = fold_masks(bags, fold)
        assert set(bags[train]) == set(train_bags) and train.sum() == 9
        assert set(bags[val]) == {val_bag} and set(bags[test]) == {test_bag}
        assert not (train & val).any() and not (train & test).any() and not (val & test).any()
        assert (train | val | test).all()


def test_leak_report_counts_shared_groups():
    groups = np.array(["a", "a", "b", "c", "c", "d", "e"])
    bags = np.array([1, 5, 2, 4, 5, 4, 3])  # fold 1: train 1,2,3 / val 4 / test 5
    report = leak_report(groups, bags, 1)
    assert report["train_test_shared"] == 1  # a
    assert report["val_test_shared"] == 1  # c
    assert report["train_val_shared"] == 0
    assert report["test_groups"] == 2 and report["fraction_test_groups_in_train"] == 0.5


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="more than one label"):
        assign_bags(["a", "a", "b"], [0, 1, 0])
    with pytest.raises(ValueError, match="protocol"):
        assign_bags(["a"], [0], protocol="random")
    with pytest.raises(ValueError, match="equal length"):
        assign_bags(["a", "b"], [0])
    with pytest.raises(ValueError, match="n_bags"):
        assign_bags(["a", "b"], [0, 1], n_bags=1)
    with pytest.raises(ValueError, match="fold"):
        fold_masks(np.array([1, 2]), 11)
    with pytest.raises(ValueError, match="fold"):
        fold_masks(np.array([1, 2]), 0)
