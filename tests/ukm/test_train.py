"""Class weights against the UKM-WBC imbalance (768 lymphoblasts, 445 neutrophils, 175 promyelocytes)."""

import numpy as np
import pytest

from leukoflow.ukm.train import balanced_class_weights, resolve_class_weights, validation_mask


def test_balanced_weights_of_the_published_counts():
    labels = np.repeat([0, 1, 2], [445, 175, 768])  # neutrophil, promyelocyte, lymphoblast
    weights = balanced_class_weights(labels, 3)
    assert weights == pytest.approx((1388 / (3 * 445), 1388 / (3 * 175), 1388 / (3 * 768)))
    assert np.round(weights, 2).tolist() == [1.04, 2.64, 0.6]
    # Every class then carries the same total weight in the loss.
    assert np.allclose(np.array(weights) * [445, 175, 768], 1388 / 3)


def test_weight_settings():
    labels = [0, 0, 2]
    assert resolve_class_weights("none", labels, 3) is None
    assert resolve_class_weights([1, 2, 3], labels, 3) == (1.0, 2.0, 3.0)
    assert resolve_class_weights("balanced", labels, 3) == pytest.approx((0.5, 1.0, 1.0))  # absent class: 1
    with pytest.raises(ValueError, match="2 weights for 3 classes"):
        resolve_class_weights([1, 2], labels, 3)


def test_validation_split_by_source_and_for_tiny_sets():
    groups = np.repeat([f"s{i}" for i in range(20)], 2)
    labels = np.repeat([0, 1] * 10, 2)
    val = validation_mask(groups, labels, 0.2, seed=0)
    assert set(groups[val]).isdisjoint(groups[~val])
    assert len(set(groups[val])) == 4
    # One source image per class: none could be held out per class; one is, overall.
    tiny = validation_mask(["a", "b", "c"], [0, 1, 2], 0.15, seed=0)
    assert tiny.sum() == 1
    with pytest.raises(ValueError, match="1 source image"):
        validation_mask(["a", "a"], [0, 0], 0.2, seed=0)
