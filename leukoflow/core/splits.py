"""Group-aware splits: bags and their folds, train/validation splits, k folds, leak counts.

Every split here keeps a group whole: a group is whatever must never straddle a split (a source
image and its augmented copies, a subject's cells, a slide's crops). Splits are stratified by the
group's label and seeded.

`BAG_FOLDS` is the ten-fold scheme over five bags of Ghosh, Singh & Sheet (2017, Table I): each
fold trains on three bags, validates on one and tests on the fifth. `assign_bags` deals rows into
bags either group-whole ("leak_free", the default) or row by row as that paper did ("paper",
leaky: rotated copies of a test cell in training explain its 100 %). `leak_report` counts the
groups a fold shares between its splits.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

# (train bags, validation bag, test bag), 1-based bag numbers, fold 1 first (Ghosh et al., Table I).
BAG_FOLDS: tuple[tuple[tuple[int, int, int], int, int], ...] = (
    ((1, 2, 3), 4, 5),
    ((1, 2, 3), 5, 4),
    ((2, 3, 4), 5, 1),
    ((2, 3, 4), 1, 5),
    ((3, 4, 5), 1, 2),
    ((3, 4, 5), 2, 1),
    ((4, 5, 1), 2, 3),
    ((4, 5, 1), 3, 2),
    ((5, 1, 2), 3, 4),
    ((5, 1, 2), 4, 3),
)

PROTOCOLS = ("leak_free", "paper")


class UnevenBagsWarning(UserWarning):
    """Group or row counts per class do not divide by the number of bags; the remainder was spread."""


def assign_bags(
    groups: Sequence,
    labels: Sequence,
    n_bags: int = 5,
    protocol: str = "leak_free",
    seed: int = 0,
) -> np.ndarray:
    """Bag number (1..n_bags) for every row.

    groups: per-row group id (source image id, or subject); labels: per-row class.
    - "leak_free": groups are stratified by class and dealt, in a seeded random order, so each bag
      gets the same number of groups of each class (26 per class per bag for the 260 ALL-IDB2
      sources). Every row of a group lands in the group's bag. A group must carry one label.
      When a class's group count does not divide by n_bags, the extra groups go one each to
      different bags, continuing round-robin across classes so bag totals stay within one group
      of each other; an UnevenBagsWarning says so. Bags balance *groups*, not rows: with groups of
      different sizes (subjects), row counts per bag differ.
    - "paper": rows are shuffled within each class and cut into n_bags equal runs, ignoring groups
      (the published, leaky assignment). Uneven row counts are spread the same way, with a warning.

    The result depends on the set of (group, label) rows and the seed, not on the row order of
    groups within the input (groups are sorted before shuffling).
    """
    groups = np.asarray(groups)
    labels = np.asarray(labels)
    if groups.ndim != 1 or labels.ndim != 1 or len(groups) != len(labels):
        raise ValueError(f"groups and labels must be 1-D of equal length, got shapes {groups.shape} and {labels.shape}")
    if len(groups) == 0:
        raise ValueError("cannot assign bags to zero rows")
    if not isinstance(n_bags, (int, np.integer)) or n_bags < 2:
        raise ValueError(f"n_bags must be an integer >= 2, got {n_bags!r}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    rng = np.random.default_rng(seed)

    if protocol == "paper":
        # Units are rows; which row is which only matters through the shuffle.
        return _deal(labels, n_bags, rng, unit="rows") + 1

    _, group_label, row_group = group_labels(groups, labels)
    group_bag = _deal(group_label, n_bags, rng, unit="groups")
    return group_bag[row_group] + 1


def _deal(unit_labels: np.ndarray, n_bags: int, rng: np.random.Generator, unit: str) -> np.ndarray:
    """0-based bag per unit: stratified by label, random order within a class, equal shares.

    Within a class, shuffled units are cut into n_bags contiguous runs whose sizes differ by at
    most one; the bags that receive the larger runs rotate from class to class so that no bag
    collects every class's remainder.
    """
    bags = np.empty(len(unit_labels), dtype=np.int64)
    classes = np.unique(unit_labels)
    offset = 0
    uneven = []
    for label in classes:  # a handful of classes: this loop is not per item
        members = np.flatnonzero(unit_labels == label)
        members = members[rng.permutation(len(members))]
        count = len(members)
        base, remainder = divmod(count, n_bags)
        sizes = np.full(n_bags, base)
        sizes[(offset + np.arange(remainder)) % n_bags] += 1
        offset = (offset + remainder) % n_bags
        bags[members] = np.repeat(np.arange(n_bags), sizes)
        if remainder:
            uneven.append(f"class {label}: {count} {unit}")
    if uneven:
        warnings.warn(
            f"{', '.join(uneven)} do not divide into {n_bags} bags; the remainder was spread one "
            "per bag, so bag sizes differ by one",
            UnevenBagsWarning,
            stacklevel=3,
        )
    return bags


def _check_fold(fold: int, folds) -> tuple[tuple[int, ...], int, int]:
    if not isinstance(fold, (int, np.integer)) or not 1 <= fold <= len(folds):
        raise ValueError(f"fold must be an integer in 1..{len(folds)}, got {fold!r}")
    train, val, test = folds[fold - 1]
    return tuple(train), val, test


def fold_masks(bags: Sequence[int], fold: int, folds=BAG_FOLDS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean (train, val, test) row masks for `fold` (1-based, as in Table I)."""
    bags = np.asarray(bags)
    train, val, test = _check_fold(fold, folds)
    return np.isin(bags, train), bags == val, bags == test


def leak_report(groups: Sequence, bags: Sequence[int], fold: int, folds=BAG_FOLDS) -> dict:
    """How many groups one fold shares between its splits (0 everywhere means leak-free).

    Keys: fold, train_test_shared, train_val_shared, val_test_shared (group counts), and
    test_groups / fraction_test_groups_in_train (share of test groups the model also trained on,
    the number that explains a perfect score).
    """
    groups = np.asarray(groups)
    bags = np.asarray(bags)
    if groups.shape != bags.shape:
        raise ValueError(f"groups and bags must have the same shape, got {groups.shape} and {bags.shape}")
    train_mask, val_mask, test_mask = fold_masks(bags, fold, folds)
    train, val, test = (np.unique(groups[mask]) for mask in (train_mask, val_mask, test_mask))
    train_test = len(np.intersect1d(train, test, assume_unique=True))
    return {
        "fold": int(fold),
        "train_test_shared": train_test,
        "train_val_shared": len(np.intersect1d(train, val, assume_unique=True)),
        "val_test_shared": len(np.intersect1d(val, test, assume_unique=True)),
        "test_groups": len(test),
        "fraction_test_groups_in_train": train_test / len(test) if len(test) else float("nan"),
    }


def group_labels(groups: Sequence, labels: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique groups, the label of each, the group index of each row).

    Raises
    ------
    ValueError
        When a group carries more than one label (it could not be kept whole in a stratified split).
    """
    groups = np.asarray(groups)
    labels = np.asarray(labels)
    if groups.ndim != 1 or labels.shape != groups.shape:
        raise ValueError(f"groups and labels must be 1-D of equal length, got shapes {groups.shape} and {labels.shape}")
    unique_groups, row_group = np.unique(groups, return_inverse=True)
    first_row = np.full(len(unique_groups), len(groups), dtype=np.int64)
    np.minimum.at(first_row, row_group, np.arange(len(groups)))
    group_label = labels[first_row]
    mixed = labels != group_label[row_group]
    if mixed.any():
        bad = unique_groups[np.unique(row_group[mixed])]
        raise ValueError(f"groups with more than one label cannot be kept whole: {bad[:10].tolist()}")
    return unique_groups, group_label, row_group


def group_kfold(groups: Sequence, labels: Sequence, k: int, seed: int = 0) -> np.ndarray:
    """Fold number (1..k) of every row: groups whole, stratified by label, fold sizes within one
    group of each other per class (the dealing of `assign_bags`).

    Raises
    ------
    ValueError
        With fewer groups than folds, k < 2, or a group of two labels.
    """
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    unique_groups, group_label, row_group = group_labels(groups, labels)
    if len(unique_groups) < k:
        raise ValueError(f"{len(unique_groups)} groups cannot fill {k} folds")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnevenBagsWarning)  # uneven folds are the normal case here
        group_fold = _deal(group_label, k, np.random.default_rng(seed), unit="groups")
    return group_fold[row_group] + 1


def group_train_val_split(
    groups: Sequence, labels: Sequence, val_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (train, validation) row masks: about `val_fraction` of each class's groups in
    validation (at least one where the class has two or more groups), every group whole.

    Raises
    ------
    ValueError
        For a fraction outside (0, 1), or a group of two labels.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction!r}")
    unique_groups, group_label, row_group = group_labels(groups, labels)
    rng = np.random.default_rng(seed)
    in_val = np.zeros(len(unique_groups), dtype=bool)
    for label in np.unique(group_label):  # a handful of classes: not a per-item loop
        members = np.flatnonzero(group_label == label)
        members = members[rng.permutation(len(members))]
        n_val = int(round(val_fraction * len(members)))
        if len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        in_val[members[:n_val]] = True
    val = in_val[row_group]
    return ~val, val
