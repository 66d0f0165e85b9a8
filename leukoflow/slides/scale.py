"""The scale of a smear from its red cells: how many pixels one red cell spans.

Every blood smear carries a ruler: red cells, hundreds per field, about 7.5 um across in normal
blood. Their size in pixels gives the magnification of any microscope and camera, so a network
trained on one collection can be shown another at the scale it was trained at.

Estimator (our choice; docs/screen.md has the measurements):

1. Optical density against the image's own background (`core.stain.optical_density`); the total
   density marks red cells, white cells and platelets, and the nucleus index (red minus blue
   density, `nucleus_index`) marks the nuclei, whose edges are left out.
2. Edges of the total density (Canny, thresholds at quantiles of the gradient so no stain
   strength is assumed).
3. Each edge pixel votes for a centre at distance r along its gradient towards the denser side,
   for every radius r of a geometric ladder (a radial-symmetry transform, Loy & Zelinsky 2003).
   A red cell's outer rim then votes, from every visible part of it, for its own centre at its
   own radius. The rim of the central pallor votes away from the centre (the denser side is the
   ring outside it), so pale centres, cells open on one side, touching and overlapping cells all
   leave the outer radius in place, where a mask's distance transform reads a ring's thickness.
4. Votes at each radius are smoothed and divided by the circumference (so a value is the share
   of a circle's rim that voted); the best radius per position, its local maxima above
   `min_coverage`, and the median radius weighted by coverage x radius^2 (the area each circle
   explains, which keeps specks and refractile dots out) are the estimate.

A coarse pass on an image about 320 px wide finds the scale roughly; a fine pass at a resolution
where a red cell is 28-56 px across, over radii from 0.6 to 1.6 times the coarse value, measures it.
The edge sits at half height of the blurred rim, so the diameter is that of the rim's half-maximum
contour: on synthetic smears it is within 5% of the planted diameter; annotators' boxes are larger.
Written with numpy, scipy and scikit-image (Canny, peak finding); no library offers the transform.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from leukoflow.core.stain import optical_density

RED_CELL_UM = 7.5
"""Diameter of a normal red cell in a dried, stained smear (haematology texts give 7-8 um)."""

WHITE_PER_RED = 1.55
"""Our choice: a typical white-cell diameter over the red-cell diameter, measured on two real
ALL-IDB1 slides (120/75 px on a 1712x1368 slide, 135/90 px on a 2592x1944 one); the synthetic
slides are drawn with 1.5-1.67."""

MIN_COVERAGE = 0.25  # our choice: a quarter of a rim voting is a circle, less is texture
MIN_RED_CELLS = 4  # our choice: red cells vary by ~10% within a smear; 4 give the median to ~5%
MAX_SPREAD = 0.45  # our choice: red cells of one smear vary by about 10-20% (IQR / median)
METHOD = "red cells: radial symmetry of their rims"


@dataclass(frozen=True)
class RedCellScale:
    """The estimate of one image (pixels of the image as given)."""

    diameter_px: float  # median red-cell diameter; nan when none was found
    spread: float  # interquartile range of the cells' diameters over their median
    red_cells: int  # circles that support the estimate
    method: str = METHOD

    @property
    def reliable(self) -> bool:
        return math.isfinite(self.diameter_px) and self.red_cells >= MIN_RED_CELLS and self.spread <= MAX_SPREAD

    def as_row(self) -> dict:
        return asdict(self)


def nucleus_index(density: np.ndarray) -> np.ndarray:
    """Red minus blue optical density (float32 HxW): high on nuclei only.

    Nuclear stains (azure, haematoxylin) absorb red light; haemoglobin and eosin absorb green and
    blue and barely any red. Measured: white-cell nuclei read about 0.5 on ALL-IDB1-like slides
    and 0.25-0.4 on the BCCD smears, red cells -0.1 to 0, bare slide 0.
    """
    return density[:, :, 0] - density[:, :, 2]


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][min(np.searchsorted(cumulative, q * cumulative[-1]), len(values) - 1)])


def radius_ladder(low: float, high: float, step: float) -> np.ndarray:
    count = max(1, int(math.floor(math.log(high / low) / math.log(step))) + 1)
    return low * step ** np.arange(count)


def rim_votes(total: np.ndarray, exclude: np.ndarray, radii: np.ndarray, sigma: float = 1.5):
    """(best coverage, its radius) per pixel of the radial-symmetry transform of `total`."""
    from skimage.feature import canny

    height, width = total.shape
    smooth = ndimage.gaussian_filter(total, sigma)
    # Hysteresis thresholds at quantiles of the gradient away from the nuclei: the strong edges
    # of a few dark nuclei must not set the bar the pale red-cell rims are measured against.
    magnitude = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
    low, high = np.percentile(magnitude[~exclude] if (~exclude).any() else magnitude, [75, 90])
    edges = canny(total, sigma=sigma, low_threshold=low, high_threshold=max(high, low)) & ~exclude
    # Only edges that bare slide touches: the outer rims of cells. Glints and dots inside a red
    # cell, and the rims of overlapping cells inside a clump, have cell on both sides.
    from skimage.filters import threshold_otsu

    cells = smooth > threshold_otsu(smooth[~exclude]) if (~exclude).any() else smooth > smooth.mean()
    near = max(2, int(round(2 * sigma)))
    edges &= ndimage.binary_dilation(~cells, iterations=near) & ndimage.binary_dilation(cells, iterations=near)
    ys, xs = np.nonzero(edges)
    gy, gx = ndimage.sobel(smooth, 0)[ys, xs], ndimage.sobel(smooth, 1)[ys, xs]
    norm = np.hypot(gy, gx) + 1e-12
    uy, ux = (gy / norm).astype(np.float32), (gx / norm).astype(np.float32)
    best = np.zeros((height, width), np.float32)
    best_radius = np.zeros((height, width), np.float32)
    for radius in radii:
        cy, cx = np.rint(ys + radius * uy).astype(np.int64), np.rint(xs + radius * ux).astype(np.int64)
        inside = (cy >= 0) & (cy < height) & (cx >= 0) & (cx < width)
        votes = np.bincount(cy[inside] * width + cx[inside], minlength=height * width).astype(np.float32)
        spread = max(1.0, 0.08 * radius)  # a real rim is not a perfect circle: centres scatter
        votes = ndimage.gaussian_filter(votes.reshape(height, width), spread)
        votes *= np.float32(spread * spread / radius)  # 2 pi s^2 (the smoothing) / 2 pi r (the rim)
        better = votes > best
        best[better] = votes[better]
        best_radius[better] = radius
    return best, best_radius


def _circles(
    rgb: np.ndarray, factor: int, radii_full: tuple[float, float], step: float, nucleus_threshold: float, spacing: float
):
    """Radii (full-image pixels) and coverages of the circles found at `factor` downsampling, at
    least `spacing` full-image pixels apart."""
    from skimage.feature import peak_local_max

    small = np.ascontiguousarray(rgb[::factor, ::factor])
    density = optical_density(small)
    total = ndimage.gaussian_filter(density.sum(axis=2), 1.0)
    nuclei = ndimage.gaussian_filter(nucleus_index(density), 1.0) > nucleus_threshold
    exclude = ndimage.binary_dilation(nuclei, iterations=4)
    low, high = radii_full[0] / factor, min(radii_full[1] / factor, min(small.shape[:2]) / 2.5)
    low = max(low, 3.0)
    if high <= low:
        return np.zeros(0), np.zeros(0)
    radii = radius_ladder(low, high, step)
    best, best_radius = rim_votes(total, exclude, radii)
    distance = max(2, int(spacing / factor))
    peaks = peak_local_max(best, min_distance=distance, threshold_abs=MIN_COVERAGE, exclude_border=False)
    if len(peaks) == 0:
        return np.zeros(0), np.zeros(0)
    return best_radius[peaks[:, 0], peaks[:, 1]] * factor, best[peaks[:, 0], peaks[:, 1]]


def fill_pallor(cells: np.ndarray, ratio: float = 1.6) -> np.ndarray:
    """`cells` with the pale centres of red cells filled, and no other hole.

    A hole is a pale centre when filling it makes the distance to the background at its deepest
    point more than `ratio` times the largest distance in the band around it: a pallor sits
    inside one thin ring (filling it turns the ring into a disc), whereas a gap between touching
    cells, or where a cell is missing from a dense field, is surrounded by whole cells as thick
    as the gap is wide, and must stay open so each cell keeps its own distance maximum.
    """
    filled = ndimage.binary_fill_holes(cells)
    labels, count = ndimage.label(filled & ~cells)
    if count == 0:
        return cells
    distance = ndimage.distance_transform_edt(cells)
    out = cells.copy()
    height, width = cells.shape
    for index, box in enumerate(ndimage.find_objects(labels), 1):
        radius = math.sqrt(np.count_nonzero(labels[box] == index) / math.pi)
        if radius < 2.5:  # specks of noise in a cell
            out[box] |= labels[box] == index
            continue
        pad = int(4 * radius) + 5
        y0, x0 = max(box[0].start - pad, 0), max(box[1].start - pad, 0)
        y1, x1 = min(box[0].stop + pad, height), min(box[1].stop + pad, width)
        hole = labels[y0:y1, x0:x1] == index
        deepest = ndimage.distance_transform_edt(cells[y0:y1, x0:x1] | hole)[hole].max()
        band = (ndimage.distance_transform_edt(~hole) <= deepest) & ~hole
        if deepest > ratio * distance[y0:y1, x0:x1][band].max(initial=0.0):
            out[y0:y1, x0:x1] |= hole
    return out


def inscribed_diameter(rgb: np.ndarray, nucleus_threshold: float = 0.12) -> tuple[float, int]:
    """(rough red-cell diameter, maxima counted) from the distance transform of the red-cell mask.

    The mask is the total density above Otsu's threshold away from the nuclei, pale centres
    filled (`fill_pallor`); each regional maximum of its distance transform is a cell's
    inscribed radius, and their median weighted by area is the estimate. Deformed cells read
    their narrow side, so this is the robust first guess the rim measurement refines, never the
    answer (measured: 0.74 of the annotated box side on the BCCD smears, 1.02-1.06 of the planted
    diameter on synthetic ones), computed on an image at most about 800 px wide.
    """
    from skimage.filters import threshold_otsu
    from skimage.morphology import h_maxima

    factor = max(1, int(round(max(rgb.shape[:2]) / 800)))
    density = optical_density(np.ascontiguousarray(rgb[::factor, ::factor]))
    density = ndimage.gaussian_filter(density, (1.5, 1.5, 0))
    total = density.sum(axis=2)
    away = ~ndimage.binary_dilation(nucleus_index(density) > nucleus_threshold, iterations=3)
    if not away.any() or total[away].max() <= total[away].min():
        return float("nan"), 0
    cells = fill_pallor((total > threshold_otsu(total[away])) & away)
    distance = ndimage.distance_transform_edt(cells)
    labels, count = ndimage.label(h_maxima(distance, 2).astype(bool), structure=np.ones((3, 3), bool))
    if count == 0:
        return float("nan"), 0
    index = np.arange(1, count + 1)
    values = np.asarray(ndimage.maximum(distance, labels, index))
    centres = np.asarray(ndimage.center_of_mass(labels > 0, labels, index)).reshape(-1, 2)
    height, width = cells.shape
    inside = (
        (centres[:, 0] > values)
        & (centres[:, 0] < height - 1 - values)
        & (centres[:, 1] > values)
        & (centres[:, 1] < width - 1 - values)
        & (values >= 2)
    )
    if not inside.any():
        return float("nan"), 0
    values = values[inside]
    return 2 * factor * weighted_quantile(values, values**2, 0.5), int(inside.sum())


def _measure(rgb: np.ndarray, rough: float, nucleus_threshold: float):
    """The fine rim pass around a rough diameter: (RedCellScale, share of the image its circles
    explain)."""
    rough_radius = rough / 2
    fine = max(1, int(rough_radius / 14))
    radii, coverage = _circles(
        rgb, fine, (0.45 * rough_radius, 1.6 * rough_radius), 1.03, nucleus_threshold, 0.5 * rough_radius
    )
    if len(radii) == 0:
        return RedCellScale(float("nan"), float("nan"), 0), 0.0
    weights = coverage * radii**2
    median = weighted_quantile(radii, weights, 0.5)
    near = (radii > 0.7 * median) & (radii < 1.4 * median)
    spread = (weighted_quantile(radii, weights, 0.75) - weighted_quantile(radii, weights, 0.25)) / median
    explained = float(math.pi * weights[near].sum() / (rgb.shape[0] * rgb.shape[1]))
    return RedCellScale(round(2 * median, 2), round(float(spread), 3), int(near.sum())), explained


def red_cell_scale(rgb: np.ndarray, nucleus_threshold: float = 0.12) -> RedCellScale:
    """The red-cell diameter of one smear (HxWx3 uint8), in its own pixels (see the module docstring).

    Two rough guesses, each refined by the fine rim pass: the coarse rim pass (right on dense
    fields, where a mask merges touching cells) and the inscribed discs of the red-cell mask
    (`inscribed_diameter`: right where rims are faint and specks and refractile dots outvote
    them). The refinement whose circles explain the larger share of the image wins: red cells
    tile a smear, specks and chance arcs do not. Returns `diameter_px = nan` and 0 cells when no
    red cell is found; `RedCellScale.reliable` says whether the estimate can serve as a ruler.
    """
    rgb = np.asarray(rgb)
    height, width = rgb.shape[:2]
    coarse = max(1, int(round(max(height, width) / 320)))
    radii, coverage = _circles(rgb, coarse, (3.0 * coarse, min(height, width) / 3), 1.08, nucleus_threshold, 2 * coarse)
    guesses = [2 * weighted_quantile(radii, coverage * radii**2, 0.5)] if len(radii) else []
    inscribed, _ = inscribed_diameter(rgb, nucleus_threshold)
    if math.isfinite(inscribed) and not any(abs(inscribed / g - 1) < 0.25 for g in guesses):
        guesses.append(inscribed)
    best, best_share = RedCellScale(float("nan"), float("nan"), 0), -1.0
    for guess in guesses:
        estimate, share = _measure(rgb, guess, nucleus_threshold)
        if math.isfinite(estimate.diameter_px) and share > best_share:
            best, best_share = estimate, share
    return best


def red_cell_px_from_pixel_size(pixel_size_um: float) -> float:
    """Red-cell diameter in pixels implied by a known pixel size (um per pixel)."""
    if not pixel_size_um > 0:
        raise ValueError(f"pixel size must be positive, got {pixel_size_um}")
    return RED_CELL_UM / pixel_size_um
