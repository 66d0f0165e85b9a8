"""Group-aware k folds and train/validation splits (leukoflow.core.splits)."""

import numpy as np
import pytest

from leukoflow.core.splits import group_kfold, group_labels, group_train_val_split


def subjects(n_all=7, n_hem=4, cells=(3, 9)):
    rng = np.random.default_rng(0)
    groups, labels = [], []
    for i in range(n_all + n_hem):
        name, label = (f"{i}", 1) if i < n_all else (f"H{i}", 0)
        k = int(rng.integers(*cells))
        groups += [name] * k
        labels += [label] * k
    return np.array(groups), np.array(labels)


def test_train_val_split_keeps_subjects_whole_and_stratifies():
    groups, labels = subjects()
    train, val = group_train_val_split(groups, labels, 0.3, seed=1)
    assert (train ^ val).all()
    assert not set(groups[train]) & set(groups[val])
    assert set(labels[val]) == {0, 1} and set(labels[train]) == {0, 1}
    # About 30% of each class's subjects: round(0.3 * 7) = 2 ALL, round(0.3 * 4) = 1 HEM.
    assert len(set(groups[val & (labels == 1)])) == 2 and len(set(groups[val & (labels == 0)])) == 1
    again = group_train_val_split(groups[::-1], labels[::-1], 0.3, seed=1)[1][::-1]
    assert np.array_equal(again, val)  # the row order does not matter


def test_kfold_keeps_groups_whole_and_balances_classes():
    groups, labels = subjects(10, 5)
    folds = group_kfold(groups, labels, 5, seed=2)
    assert set(folds) == {1, 2, 3, 4, 5}
    for fold in range(1, 6):
        inside = set(groups[folds == fold])
        assert not inside & set(groups[folds != fold])
        assert {int(s.startswith("H")) for s in inside} == {0, 1}  # 2 ALL + 1 HEM subjects per fold


def test_splits_refuse_what_they_cannot_do():
    groups, labels = subjects(2, 1)
    with pytest.raises(ValueError, match="cannot fill 5 folds"):
        group_kfold(groups, labels, 5)
    with pytest.raises(ValueError, match="val_fraction"):
        group_train_val_split(groups, labels, 1.0)
    with pytest.raises(ValueError, match="more than one label"):
        group_labels(["a", "a"], [0, 1])
