"""Subsets A and B have the published composition; no subject crosses training, validation, test."""

import numpy as np
import pandas as pd
import pytest

from leukoflow.cnmc.subsets import (
    AUGMENTED,
    BOTH,
    HELD_OUT,
    ORIGINAL,
    assign_roles,
    design_subsets,
    scored_rows,
    shared_groups,
)
from leukoflow.core.errors import ConfigError, DatasetError


def cell_index(n_all=10, n_hem=6, cells=12, prelim_all=3, prelim_hem=2, prelim_cells=5):
    rows = []
    for subject, label, n, split in (
        *((str(s), 1, cells, f"fold_{s % 3}") for s in range(1, n_all + 1)),
        *((f"H{s}", 0, cells, f"fold_{s % 3}") for s in range(1, n_hem + 1)),
        *((str(100 + s), 1, prelim_cells, "prelim_test") for s in range(prelim_all)),
        *((f"H{100 + s}", 0, prelim_cells, "prelim_test") for s in range(prelim_hem)),
    ):
        rows += [(f"UID_{subject}_1_{c}", subject, label, "ALL" if label else "HEM", split) for c in range(n)]
    return pd.DataFrame(rows, columns=["id", "source_id", "label", "class_name", "split"])


def test_prelim_test_is_the_evaluation_and_subjects_stay_whole():
    index = cell_index()
    roles, evaluation = assign_roles(index, "subject", val_fraction=0.3, seed=1)
    assert evaluation == "prelim_test"
    assert (roles[index["split"] == "prelim_test"] == "test").all()
    assert (roles[index["split"] != "prelim_test"] != "test").all()
    assert shared_groups(index, roles) == {"train_val": 0, "train_test": 0, "val_test": 0}
    per_subject = pd.DataFrame({"subject": index["source_id"], "role": roles}).groupby("subject")["role"].nunique()
    assert (per_subject == 1).all()
    # 7:3 by subject within each class: 3 of 10 ALL subjects and 2 of 6 HEM subjects validate
    val_subjects = index.loc[roles == "val"].groupby("label")["source_id"].nunique()
    assert val_subjects.to_dict() == {0: 2, 1: 3}


def test_without_prelim_labels_held_out_subjects_are_the_test():
    index = cell_index()
    index = index[index["split"] != "prelim_test"].reset_index(drop=True)
    roles, evaluation = assign_roles(index, "subject", val_fraction=0.3, test_fraction=0.2, seed=0)
    assert evaluation == "held_out_subjects"
    assert set(roles) == {"train", "val", "test"}
    assert shared_groups(index, roles) == {"train_val": 0, "train_test": 0, "val_test": 0}
    assert set(index.loc[roles == "test", "label"]) == {0, 1}


def test_cell_protocol_is_leaky_and_says_so():
    index = cell_index()
    roles, evaluation = assign_roles(index, "cell", val_fraction=0.3, seed=0)
    assert shared_groups(index, roles)["train_val"] > 0
    index = index[index["split"] != "prelim_test"].reset_index(drop=True)
    assert assign_roles(index, "cell", seed=0)[1] == "held_out_cells"


def test_cell_protocol_also_holds_out_random_cells_of_the_training_subjects():
    """Beside the preliminary test set, a split by cell keeps a share of the training cells back:
    the cells a cell-random evaluation would score, from subjects the models trained on."""
    index = cell_index()
    roles, evaluation = assign_roles(index, "cell", test_fraction=0.2, seed=0)
    assert evaluation == "prelim_test"
    assert (roles[index["split"] == "prelim_test"] == "test").all()
    training = index["split"] != "prelim_test"
    held = roles == HELD_OUT
    assert set(roles[training]) == {"train", "val", HELD_OUT}
    assert held.sum() == pytest.approx(0.2 * training.sum(), abs=2)
    assert set(index.loc[held, "label"]) == {0, 1}
    shared = shared_groups(index, roles)
    assert shared["train_held_out"] == index.loc[held, "source_id"].nunique() > 0  # every one seen in training
    assert shared["train_test"] == 0
    # the split by subject holds nothing back: its evaluation is the preliminary test set alone
    assert HELD_OUT not in set(assign_roles(index, "subject", seed=0)[0])


def test_scored_rows_needs_the_role_column():
    predictions = pd.DataFrame({"id": ["a", "b"], "role": ["test", HELD_OUT]})
    assert scored_rows(predictions, HELD_OUT, "p.tsv")["id"].tolist() == ["b"]
    with pytest.raises(DatasetError) as info:
        scored_rows(predictions.drop(columns="role"), "test", "p.tsv")
    assert info.value.path == "p.tsv" and "rerun cnmc_predict" in info.value.problem


def test_subsets_have_the_published_composition():
    index = cell_index(n_all=9)
    roles, _ = assign_roles(index, "subject", seed=2)
    subsets = design_subsets(index, roles, seed=3)
    train = roles == "train"
    is_all, is_hem = index["label"] == 1, index["label"] == 0
    half_a, half_b = subsets["all_half"] == "A", subsets["all_half"] == "B"
    # ALL training cells cut into two equal halves (one more in A when odd)
    assert (half_a | half_b).sum() == (train & is_all).sum()
    assert 0 <= half_a.sum() - half_b.sum() <= 1
    assert not (half_a & half_b).any()
    # set A = All-A + augmented All-B + HEM and augmented HEM; set B mirrors it
    assert (subsets.loc[half_a, "set_a"] == ORIGINAL).all() and (subsets.loc[half_b, "set_a"] == AUGMENTED).all()
    assert (subsets.loc[half_b, "set_b"] == ORIGINAL).all() and (subsets.loc[half_a, "set_b"] == AUGMENTED).all()
    assert (subsets.loc[train & is_hem, ["set_a", "set_b"]] == BOTH).all().all()
    # nothing outside training enters a subset
    assert (subsets.loc[~train, ["set_a", "set_b", "all_half"]] == "").all().all()
    # halves mix subjects at random (the paper splits cells, not subjects)
    assert np.intersect1d(index.loc[half_a, "source_id"], index.loc[half_b, "source_id"]).size > 0


def test_one_class_on_a_side_is_a_config_error():
    index = cell_index(n_all=10, n_hem=1, prelim_all=0, prelim_hem=0)
    with pytest.raises(ConfigError, match="one class only"):
        assign_roles(index, "subject", val_fraction=0.3)
