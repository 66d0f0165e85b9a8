import math

import numpy as np
import pytest

from leukoflow.core.matching import cell_metrics, match_points


def test_known_points():
    true = np.array([[100, 100], [300, 100], [500, 500]])
    pred = np.array([[104, 97], [290, 110], [900, 900], [101, 102]])
    tp, fp, fn, pairs = match_points(pred, true, radius=20)
    assert (tp, fp, fn) == (2, 2, 1)
    # (101,102) is nearer (100,100) than (104,97): the optimal pairing takes it.
    assert sorted(map(tuple, pairs.tolist())) == [(1, 1), (3, 0)]


def test_one_to_one_conflict_is_resolved_to_maximise_matches():
    # Prediction 0 lies nearest annotation 0 but is also within reach of annotation 1;
    # prediction 1 can only reach annotation 0. Greedy nearest matching pairs 0-0 and leaves
    # one unmatched; the assignment pairs 0-1 and 1-0.
    true = np.array([[0.0, 0.0], [18.0, 0.0]])
    pred = np.array([[5.0, 0.0], [-12.0, 0.0]])
    result = match_points(pred, true, radius=15)
    assert (result.tp, result.fp, result.fn) == (2, 0, 0)
    assert sorted(map(tuple, result.pairs.tolist())) == [(0, 1), (1, 0)]


def test_each_annotation_is_used_once():
    true = np.array([[50.0, 50.0]])
    pred = np.array([[49.0, 50.0], [51.0, 50.0], [50.0, 52.0]])
    assert match_points(pred, true, 10)[:3] == (1, 2, 0)


def test_radius_is_inclusive_and_pairs_beyond_it_are_dropped():
    assert match_points([[3.0, 4.0]], [[0.0, 0.0]], 5)[:3] == (1, 0, 0)
    assert match_points([[3.0, 4.1]], [[0.0, 0.0]], 5)[:3] == (0, 1, 1)


def test_empty_inputs():
    assert match_points(np.zeros((0, 2)), [[1, 2]], 5)[:3] == (0, 0, 1)
    assert match_points([[1, 2]], [], 5)[:3] == (0, 1, 0)
    with pytest.raises(ValueError, match="radius"):
        match_points([[1, 2]], [[1, 2]], 0)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        match_points([[1, 2, 3]], [[1, 2]], 5)


def test_cell_metrics():
    metrics = cell_metrics(tp=6, fp=2, fn=4)
    assert metrics["precision"] == pytest.approx(0.75)
    assert metrics["recall"] == pytest.approx(0.6)
    assert metrics["f1"] == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))
    empty = cell_metrics(0, 0, 3)
    assert math.isnan(empty["precision"]) and empty["recall"] == 0.0 and empty["f1"] == 0.0
    with pytest.raises(ValueError):
        cell_metrics(-1, 0, 0)
