import numpy as np
import pytest

from leukoflow.slides.centroids import (
    axis_distance_cost,
    centroid_cost,
    euclidean_distance_cost,
    find_centroids,
    literal_maxima,
)


def disks(shape, centres_xy, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for x, y in centres_xy:
        mask |= (xx - x) ** 2 + (yy - y) ** 2 <= radius**2
    return mask


def assert_one_near_each(found, centres, tolerance):
    """Exactly one centroid within `tolerance` of each centre, and no other centroid."""
    found = np.asarray(found, float)
    centres = np.asarray(centres, float)
    assert len(found) == len(centres), f"found {found.tolist()} for centres {centres.tolist()}"
    distance = np.linalg.norm(found[:, None, :] - centres[None, :, :], axis=2)
    assert (distance.min(axis=0) <= tolerance).all(), f"found {found.tolist()} for centres {centres.tolist()}"
    assert len(set(distance.argmin(axis=0))) == len(centres)


@pytest.mark.parametrize("cost", ["euclidean", "axis_sum"])
def test_one_disk_gives_one_centroid_at_its_centre(cost):
    found = find_centroids(disks((100, 120), [(70, 40)], 20), cost=cost)
    assert found.dtype == np.int64 and found.shape == (1, 2)
    assert np.abs(found[0] - [70, 40]).max() <= 1


@pytest.mark.parametrize("cost", ["euclidean", "axis_sum"])
def test_square_plateau_gives_exactly_one_centroid(cost):
    mask = np.zeros((60, 60), bool)
    mask[10:30, 15:35] = True  # even side: the maximum is a 2x2 plateau
    found = find_centroids(mask, cost=cost)
    assert len(found) == 1
    assert np.abs(found[0] - [24.5, 19.5]).max() <= 1
    assert mask[found[0, 1], found[0, 0]]  # a member pixel, not a point between them


@pytest.mark.parametrize("cost", ["euclidean", "axis_sum"])
def test_empty_mask_gives_none(cost):
    found = find_centroids(np.zeros((30, 40), bool), cost=cost)
    assert found.shape == (0, 2)


def test_two_touching_disks_give_two_centroids_near_their_centres():
    centres = [(50, 50), (86, 52)]  # radius 20, 36 px apart: overlapping
    assert_one_near_each(find_centroids(disks((100, 140), centres, 20)), centres, 1.5)
    big = [(60, 80), (112, 90)]  # radius 30, a wide neck
    assert_one_near_each(find_centroids(disks((160, 200), big, 30)), big, 1.5)


@pytest.mark.parametrize(
    "centres",
    [
        [(64, 64), (96, 64), (64, 96), (96, 96)],  # 2x2 clump around a small hole
        [(40, 80), (76, 80), (112, 82), (148, 78)],  # a chain
        [(60, 60), (95, 62), (78, 92), (110, 100)],  # irregular
    ],
)
def test_clump_of_four_touching_disks_gives_four(centres):
    mask = disks((160, 200), centres, 20)
    from scipy import ndimage

    assert ndimage.label(mask, structure=np.ones((3, 3)))[1] == 1  # really one clump
    assert_one_near_each(find_centroids(mask), centres, 1.5)


def test_published_axis_cost_is_pulled_towards_a_touching_neighbour():
    # Documented limitation of the paper's cost: on the row through two touching cells the
    # x distance keeps growing towards the contact, so each peak moves ~0.7 r towards the other.
    centres = [(50, 50), (86, 52)]
    found = find_centroids(disks((100, 140), centres, 20), cost="axis_sum")
    assert len(found) == 2
    left, right = found[np.argsort(found[:, 0])]
    assert 8 <= left[0] - 50 <= 16 and 8 <= 86 - right[0] <= 16


def test_axis_cost_values():
    mask = np.zeros((5, 7), bool)
    mask[1:4, 1:6] = True  # 3 rows x 5 columns
    cost = axis_distance_cost(mask)
    assert cost.dtype == np.int32
    assert cost[2, 3] == 3 + 2  # 3 to the row ends, 2 to the column ends
    assert cost[1, 1] == 1 + 1 and cost[0, 0] == 0


def test_cells_cut_by_the_border_peak_inside_the_image():
    mask = disks((100, 100), [(0, 0), (99, 50)], 20)
    found = find_centroids(mask)
    assert len(found) == 2
    assert mask[found[:, 1], found[:, 0]].all()
    assert euclidean_distance_cost(mask)[0, 0] == 1.0  # the outside counts as background


def test_min_cost_drops_specks():
    mask = disks((80, 120), [(30, 40)], 20) | disks((80, 120), [(100, 40)], 3)
    assert len(find_centroids(mask)) == 2
    kept = find_centroids(mask, min_cost=10)
    assert kept.tolist() == [[30, 40]]


def test_min_distance_merges_close_centroids_keeping_the_higher():
    # Two disks of different size, barely separated: merged into the centre of the bigger one.
    mask = disks((80, 120), [(40, 40)], 20) | disks((80, 120), [(72, 40)], 10)
    assert len(find_centroids(mask)) == 2
    merged = find_centroids(mask, min_distance=40)
    assert len(merged) == 1 and np.abs(merged[0] - [40, 40]).max() <= 1


def test_rejects_non_2d_and_unknown_cost():
    with pytest.raises(ValueError, match="2-D"):
        find_centroids(np.zeros((3, 3, 3), bool))
    with pytest.raises(ValueError, match="unknown centroid cost"):
        find_centroids(np.ones((3, 3), bool), cost="manhattan")


# --- the paper's literal rule: a centroid is a pixel that is the maximum of its 3x3 neighbourhood


@pytest.mark.parametrize("cost", ["euclidean", "axis_sum"])
def test_literal_rule_one_disk_gives_one_centroid_at_its_centre(cost):
    found = find_centroids(disks((100, 120), [(70, 40)], 20), cost=cost, rule="literal_3x3")
    assert found.tolist() == [[70, 40]]


@pytest.mark.parametrize("cost", ["euclidean", "axis_sum"])
def test_literal_rule_square_plateau_gives_one_centroid(cost):
    mask = np.zeros((60, 60), bool)
    mask[10:30, 15:35] = True  # even side: the maximum is a 2x2 plateau, every pixel of it a 3x3 maximum
    assert literal_maxima(centroid_cost(mask, cost)).sum() > 1
    found = find_centroids(mask, cost=cost, rule="literal_3x3")
    assert len(found) == 1 and np.abs(found[0] - [24.5, 19.5]).max() <= 1


@pytest.mark.parametrize("gap", [36, 40])
def test_literal_rule_two_touching_disks_give_two(gap):
    centres = [(50, 50), (50 + gap, 50)]  # radius 20: overlapping (36) or touching at a point (40)
    mask = disks((100, 140), centres, 20)
    from scipy import ndimage

    assert ndimage.label(mask, structure=np.ones((3, 3)))[1] == 1
    assert_one_near_each(find_centroids(mask, cost="euclidean", rule="literal_3x3"), centres, 1)


def test_literal_rule_with_the_papers_cost_fires_along_the_contact_row():
    # What the as-published method does with touching cells, and why the improved one departs:
    # along the row through both disks the x distance grows towards the contact, and every
    # integer step of that ridge is a 3x3 maximum.
    mask = disks((100, 140), [(50, 50), (90, 50)], 20)
    found = find_centroids(mask, cost="axis_sum", rule="literal_3x3")
    assert len(found) > 2
    assert (found[:, 1] == 50).all()  # all on the contact row
    assert len(find_centroids(mask, cost="axis_sum")) == 2  # regional maxima: one per disk


def test_unknown_rule_is_rejected():
    with pytest.raises(ValueError, match="unknown centroid rule"):
        find_centroids(np.ones((3, 3), bool), rule="strict")
