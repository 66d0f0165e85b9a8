"""Bags and folds (Ghosh, Singh & Sheet 2017, Table I), with a leak-free alternative.

The paper splits the 9360 augmented ALL-IDB2 images into five bags B1..B5 of 1872 (936 per class)
and runs ten folds, each training on three bags, validating on one and testing on the fifth. It
dealt *augmented* images into bags, so rotated copies of one cell sit in both training and test
bags; that is why Table I reports 100 % on every fold. `assign_bags(protocol="paper")` reproduces
that assignment; `protocol="leak_free"` (the default) keeps every row of a group (source image,
or subject for other datasets) in one bag. `leak_report` measures how many groups a fold shares.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

# (train bags, validation bag, test bag), 1-based bag numbers, fold 1 first: Table I of the paper.
TABLE_I_FOLDS: tuple[tuple[tuple[int, int, int], int, int], ...] = (
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

    unique_groups, row_group = np.unique(groups, return_inverse=True)
    first_row = np.full(len(unique_groups), len(groups), dtype=np.int64)
    np.minimum.at(first_row, row_group, np.arange(len(groups)))
    group_label = labels[first_row]
    mixed = labels != group_label[row_group]
    if mixed.any():
        bad = unique_groups[np.unique(row_group[mixed])]
        raise ValueError(f"groups with more than one label cannot be kept whole: {bad[:10].tolist()}")
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


def fold_masks(bags: Sequence[int], fold: int, folds=TABLE_I_FOLDS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean (train, val, test) row masks for `fold` (1-based, as in Table I)."""
    bags = np.asarray(bags)
    train, val, test = _check_fold(fold, folds)
    return np.isin(bags, train), bags == val, bags == test


def leak_report(groups: Sequence, bags: Sequence[int], fold: int, folds=TABLE_I_FOLDS) -> dict:
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
