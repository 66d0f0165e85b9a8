import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from torch import nn

from leukoflow.allidb2.filters import (
    classification_error,
    conv_layer_index,
    filter_blinding_errors,
    js_distance_matrix,
    sorted_order,
    white_image_maps,
)


class RednessNet(nn.Module):
    """Decides "class 1" when the image is red: only filter 1 of the last conv layer matters.

    features: conv(3->2, 1x1) passing the channels through, ReLU, conv(2->4, 1x1) whose
    filter 1 copies the red channel and whose other filters respond to green (ignored by the
    classifier). Classifier: score(class 1) = mean of filter 1 - 0.5, score(class 0) = 0.
    """

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 1), nn.ReLU())
        self.classifier = nn.Linear(4, 2)
        with torch.no_grad():
            first, last = self.features[0], self.features[2]
            first.weight.zero_()
            first.bias.zero_()
            first.weight[0, 0] = 1.0  # red
            first.weight[1, 1] = 1.0  # green
            last.weight.zero_()
            last.bias.zero_()
            last.weight[1, 0] = 1.0
            last.weight[[0, 2, 3], 1] = 1.0
            self.classifier.weight.zero_()
            self.classifier.bias.copy_(torch.tensor([0.0, -0.5]))
            self.classifier.weight[1, 1] = 1.0

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def red_or_green_patches(n=12):
    x = torch.zeros(n, 3, 8, 8)
    labels = torch.arange(n) % 2
    x[labels == 1, 0] = 1.0  # red patches: class 1
    x[labels == 0, 1] = 1.0  # green patches: class 0
    return x, labels


def test_blinding_the_filter_the_decision_depends_on_raises_the_error():
    model = RednessNet().train()
    patches, labels = red_or_green_patches()
    assert classification_error(model, patches, labels) == 0.0
    errors = filter_blinding_errors(model, patches, labels)
    assert errors.shape == (4,)
    assert errors[1] == pytest.approx(0.5)  # every red patch now reads green
    assert np.delete(errors, 1).max() == 0.0
    assert model.training  # mode restored


@pytest.mark.parametrize("batch_size", [1, 5, 12, 1000])
def test_blinding_does_not_depend_on_batching(batch_size):
    patches, labels = red_or_green_patches(10)
    errors = filter_blinding_errors(RednessNet(), patches, labels, batch_size=batch_size)
    np.testing.assert_allclose(errors, [0, 0.5, 0, 0])


def test_blinding_an_earlier_layer():
    patches, labels = red_or_green_patches()
    errors = filter_blinding_errors(RednessNet(), patches, labels, layer_index=0)
    np.testing.assert_allclose(errors, [0.5, 0.0])  # red channel carrier, green carrier


def test_hook_is_removed_afterwards():
    model = RednessNet()
    patches, labels = red_or_green_patches()
    filter_blinding_errors(model, patches, labels)
    assert not model.features[2]._forward_hooks
    assert classification_error(model, patches, labels) == 0.0


def test_conv_layer_index_checks():
    features = RednessNet().features
    assert conv_layer_index(features) == 2
    with pytest.raises(ValueError, match="not nn.Conv2d"):
        conv_layer_index(features, 1)
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        conv_layer_index(nn.Sequential(nn.ReLU()))


def test_white_image_maps_shape():
    features = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    maps = white_image_maps(features, 16)
    assert maps.shape == (5, 8, 8) and maps.dtype == np.float32 and (maps >= 0).all()
    assert white_image_maps(features, (16, 24)).shape == (5, 8, 12)


def test_js_distance_matrix_properties_and_agreement_with_scipy():
    rng = np.random.default_rng(3)
    maps = rng.random((7, 4, 5)) ** 3
    maps[2] = 0.0  # a silent filter
    maps[4] = maps[3] * 10  # same distribution as filter 3
    matrix = js_distance_matrix(maps, block=3)
    assert matrix.shape == (7, 7)
    np.testing.assert_array_equal(matrix, matrix.T)
    assert (np.diag(matrix) == 0).all()
    assert (matrix >= 0).all() and (matrix <= 1).all()
    assert matrix[3, 4] == pytest.approx(0.0, abs=1e-7)
    flat = maps.reshape(7, -1)
    for i, j in [(0, 1), (0, 6), (5, 3)]:
        assert matrix[i, j] == pytest.approx(jensenshannon(flat[i], flat[j], base=2), abs=1e-9)


def test_js_distance_is_one_for_disjoint_supports_and_rejects_negative_maps():
    maps = np.zeros((2, 2, 2))
    maps[0, 0, 0] = 1.0
    maps[1, 1, 1] = 3.0
    assert js_distance_matrix(maps)[0, 1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="non-negative"):
        js_distance_matrix(-np.ones((2, 2, 2)))


def test_sorted_order_groups_similar_filters():
    rng = np.random.default_rng(0)
    centres = np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1, 2]]  # three families, interleaved
    maps = centres[:, :, None] + 0.05 * rng.random((9, 3, 4))
    order = sorted_order(js_distance_matrix(maps))
    assert sorted(order.tolist()) == list(range(9))
    families = [i % 3 for i in order]
    # After sorting, each family is contiguous.
    assert sum(a != b for a, b in zip(families, families[1:])) == 2
