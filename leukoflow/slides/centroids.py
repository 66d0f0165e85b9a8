"""Cell centroids on a binary white-cell mask (Ghosh, Singh & Sheet 2017, Sec. III-C).

Published cost (`cost="axis_sum"`): for every foreground pixel, the distance to the nearest
background pixel along its row (left or right, whichever is nearer) plus the same along its
column; centroids are the maxima of this cost.

Two measured departures from the literal recipe, both needed for clumps of touching cells:

* Maxima are *regional* maxima with a minimum prominence (`skimage.morphology.h_maxima`), not
  "cost equals the maximum of its 3x3 neighbourhood". On a digital disk the cost descends from
  the centre in integer steps, and every step of such a ridge satisfies the non-strict 3x3 rule:
  two touching disks of radius 20 gave 5 such "maxima" each. A regional maximum is a connected
  plateau with no higher neighbour; it yields one centroid (its member pixel nearest the
  plateau's mean, so the point always lies on the mask). `rule="literal_3x3"` keeps the literal
  rule (the as-published slide method), also with one centroid per plateau.
* The axis sum is biased for touching cells: inside a cell that touches a neighbour along x, the
  row run continues into the neighbour, so the x term grows towards the contact while the y term
  barely falls, and the maximum moves about 0.7 radius towards the neighbour (two disks of
  radius 20, centres 36 px apart: peaks at 14 px from the true centres; two disks of radius 30:
  a single peak at the neck). The default `cost="euclidean"` uses the Euclidean distance to the
  nearest background pixel instead (`scipy.ndimage.distance_transform_edt`), whose regional
  maxima sit on the cell centres in all those cases. `cost="axis_sum"` keeps the paper's cost.

Everything is array arithmetic (cumulative maxima/minima of background indices, a distance
transform, regional maxima, connected-component labelling); no Python loop runs over pixels.
The one loop is over clumps (mask components holding two or more regional maxima), each of which
gets a morphological reconstruction on its bounding box: `h_maxima` on a whole 2592x1944 mask
takes 6-10 s, this takes well under a second.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from skimage.morphology import h_maxima, local_maxima

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
CostName = Literal["euclidean", "axis_sum"]
RuleName = Literal["regional_maxima", "literal_3x3"]


def _check_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    return mask.astype(bool, copy=False)


def _row_distance(mask: np.ndarray) -> np.ndarray:
    """Per pixel, distance along its row to the nearest background pixel (0 on background).

    The image border counts as background just outside the image, so a cell cut by the border
    still peaks inside itself.
    """
    width = mask.shape[1]
    columns = np.arange(width, dtype=np.int32)
    background = ~mask
    # Index of the last background pixel at or left of each pixel (-1: the virtual one outside).
    last_left = np.maximum.accumulate(np.where(background, columns, np.int32(-1)), axis=1)
    # Index of the first background pixel at or right of each pixel (width: the one outside).
    first_right = np.minimum.accumulate(np.where(background, columns, np.int32(width))[:, ::-1], axis=1)[:, ::-1]
    return np.minimum(columns - last_left, first_right - columns)


def axis_distance_cost(mask: np.ndarray) -> np.ndarray:
    """The paper's cost: row distance plus column distance to background (int32 HxW, 0 off-mask).

    A disk of radius r scores about 2r at its centre.
    """
    mask = _check_mask(mask)
    return (_row_distance(mask) + _row_distance(mask.T).T).astype(np.int32, copy=False)


def euclidean_distance_cost(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance to the nearest background pixel (float32 HxW, 0 off-mask).

    Like the axis cost, the outside of the image counts as background. A disk of radius r
    scores about r at its centre.
    """
    mask = _check_mask(mask)
    padded = np.pad(mask, 1, constant_values=False)
    return ndimage.distance_transform_edt(padded)[1:-1, 1:-1].astype(np.float32)


def centroid_cost(mask: np.ndarray, cost: CostName = "euclidean") -> np.ndarray:
    """The cost map `find_centroids` takes maxima of."""
    if cost == "euclidean":
        return euclidean_distance_cost(mask)
    if cost == "axis_sum":
        return axis_distance_cost(mask)
    raise ValueError(f"unknown centroid cost {cost!r}; expected 'euclidean' or 'axis_sum'")


def _merge_close(points: np.ndarray, costs: np.ndarray, min_distance: float) -> np.ndarray:
    """Indices of the points kept after merging groups closer than `min_distance`.

    Points within `min_distance` of each other are linked; each connected group keeps its point
    of highest cost (ties: the first). Linking is transitive, so a chain of close spurious peaks
    collapses into one; choose `min_distance` below the radius of a cell so neighbouring cells
    of a clump (about a diameter apart) never link.
    """
    pairs = cKDTree(points).query_pairs(min_distance, output_type="ndarray")
    n = len(points)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    # Sort by group, then by decreasing cost; the first of each group is its best point.
    order = np.lexsort((-costs, group))
    _, first = np.unique(group[order], return_index=True)
    return np.sort(order[first])


def _plateau_representatives(peaks: np.ndarray) -> np.ndarray:
    """One (x, y) per 8-connected component of `peaks`: the member nearest the component mean."""
    labels, n_components = ndimage.label(peaks, structure=_EIGHT_CONNECTED)
    if n_components == 0:
        return np.zeros((0, 2), dtype=np.int64)
    ys, xs = np.nonzero(labels)
    component = labels[ys, xs] - 1
    counts = np.bincount(component, minlength=n_components)
    mean_x = np.bincount(component, weights=xs, minlength=n_components) / counts
    mean_y = np.bincount(component, weights=ys, minlength=n_components) / counts
    squared = (xs - mean_x[component]) ** 2 + (ys - mean_y[component]) ** 2
    # Sort by (component, distance to its mean) and take the first row of each component.
    order = np.lexsort((squared, component))
    _, first = np.unique(component[order], return_index=True)
    chosen = order[first]
    return np.column_stack([xs[chosen], ys[chosen]]).astype(np.int64)


def _prominent_maxima(cost_map: np.ndarray, min_prominence: float) -> np.ndarray:
    """`h_maxima(cost_map, min_prominence)` as a bool mask, computed only where it matters.

    Mask components (cost > 0, 8-connected) are independent because background (cost 0)
    separates them. A component with a single regional maximum keeps it iff its height reaches
    `min_prominence` (its dynamic is its height above the background); only components with
    several maxima (clumps) need the reconstruction, done on their bounding boxes.
    """
    foreground = cost_map > 0
    regional = local_maxima(cost_map, connectivity=2, allow_borders=True).astype(bool) & foreground
    components, n_components = ndimage.label(foreground, structure=_EIGHT_CONNECTED)
    plateaus, n_plateaus = ndimage.label(regional, structure=_EIGHT_CONNECTED)
    if n_plateaus == 0:
        return regional
    # The component of each plateau: scatter the component labels of its member pixels (a
    # plateau lies in one component, so every member writes the same value).
    plateau_component = np.zeros(n_plateaus + 1, dtype=np.int64)
    plateau_component[plateaus[regional]] = components[regional]
    plateau_component = plateau_component[1:]
    per_component = np.bincount(plateau_component, minlength=n_components + 1)

    peaks = regional & (per_component[components] == 1) & (cost_map >= min_prominence)
    clumps = np.flatnonzero(per_component >= 2)
    if len(clumps):
        boxes = ndimage.find_objects(components)
        for label in clumps:
            box = boxes[label - 1]
            inside = components[box] == label
            local = np.where(inside, cost_map[box], 0)
            peaks[box] |= h_maxima(local, min_prominence).astype(bool) & inside
    return peaks


def literal_maxima(cost_map: np.ndarray) -> np.ndarray:
    """The paper's rule, literally: a foreground pixel is a centroid candidate iff its cost equals
    the maximum of its 3x3 neighbourhood (pixels outside the image count as 0).

    Two 8-adjacent candidates bound each other from above, so they hold the same value: every
    8-connected group of candidates is a plateau, and `find_centroids` takes one point from it.
    """
    neighbourhood = ndimage.maximum_filter(cost_map, size=3, mode="constant", cval=0)
    return (cost_map == neighbourhood) & (cost_map > 0)


def find_centroids(
    mask: np.ndarray,
    cost: CostName = "euclidean",
    min_prominence: float = 1.0,
    min_cost: float = 1.0,
    min_distance: float | None = None,
    rule: RuleName = "regional_maxima",
) -> np.ndarray:
    """Centroids of the cells in a binary mask: (N, 2) int64 array of (x, y), sorted by (y, x).

    `cost`: "euclidean" (default) or the paper's "axis_sum" (see the module docstring).
    `rule`: "literal_3x3" takes the paper's rule as written (`literal_maxima`: every pixel that
    is the maximum of its 3x3 neighbourhood, one centroid per plateau; `min_prominence` is not
    used). With the default "regional_maxima", candidates are the regional maxima of the cost that rise at least `min_prominence` above
    the saddle joining them to any higher region (`skimage.morphology.h_maxima`); with integer
    axis costs, 1 means every regional maximum. Raise it to stop a bumpy outline from splitting
    one cell. Each candidate plateau gives one centroid. Plateaus whose cost is below `min_cost`
    are dropped: specks (a disk of radius r scores about r with "euclidean", 2r with
    "axis_sum"). With `min_distance`, centroids closer than that are merged, keeping the one of
    highest cost (see `_merge_close`).
    """
    if rule not in ("regional_maxima", "literal_3x3"):
        raise ValueError(f"unknown centroid rule {rule!r}; expected 'regional_maxima' or 'literal_3x3'")
    cost_map = centroid_cost(mask, cost)
    if not (cost_map > 0).any():
        return np.zeros((0, 2), dtype=np.int64)
    if rule == "literal_3x3":
        peaks = literal_maxima(cost_map) & (cost_map >= min_cost)
    else:
        if min_prominence <= 0:
            raise ValueError(f"min_prominence must be positive, got {min_prominence}")
        peaks = _prominent_maxima(cost_map, min_prominence) & (cost_map >= min_cost)
    points = _plateau_representatives(peaks)

    if min_distance is not None and min_distance > 0 and len(points) > 1:
        keep = _merge_close(points, cost_map[points[:, 1], points[:, 0]].astype(np.float64), min_distance)
        points = points[keep]
    return points[np.lexsort((points[:, 0], points[:, 1]))]
