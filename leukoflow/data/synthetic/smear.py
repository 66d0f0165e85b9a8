"""The smear around the white cells: stain, illumination, red cells, platelets, compositing.

Everything is drawn in optical density (absorbance) and turned into RGB once, by Beer-Lambert:
`rgb = illumination * exp(-od)`. Overlapping red cells therefore darken the way real touching
cells do, and a stain change is one multiplication of the density vectors. The reference
densities are solved from the colours measured on real ALL-IDB1 slides (datasets.md): background
about (167, 166, 155), red cells about (155, 137, 135), nuclei about (80, 25, 120).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

# Colour of the bare slide (plasma, seen through the microscope) and of each stained component,
# measured on real ALL-IDB1 slides or, for the cytoplasm and granules, chosen to read as MGG.
REFERENCE_BACKGROUND = np.array([167.0, 166.0, 155.0], dtype=np.float32)
REFERENCE_COLOURS = {
    # At full thickness; paler centres and darker overlaps average out near the measured
    # (155, 137, 135).
    "red_cell": (155.0, 133.0, 134.0),
    "nucleus": (80.0, 25.0, 120.0),  # deep purple chromatin
    "cytoplasm": (134.0, 131.0, 152.0),  # pale blue-lilac (basophilic lymphoid cytoplasm)
    "neutrophil_cytoplasm": (160.0, 140.0, 149.0),  # pinkish
    "fine_granule": (135.0, 100.0, 140.0),  # neutrophilic specific granules, lilac-pink
    "azurophil": (105.0, 38.0, 112.0),  # coarse azurophilic (primary) granules, red-purple
    "platelet": (112.0, 70.0, 138.0),
}


def density_of(colour: Sequence[float], background: np.ndarray = REFERENCE_BACKGROUND) -> np.ndarray:
    """Optical density that turns `background` into `colour` (clipped at 0: stains only absorb)."""
    ratio = np.asarray(colour, dtype=np.float32) / background
    return np.maximum(-np.log(ratio), 0.0).astype(np.float32)


REFERENCE_DENSITIES = {name: density_of(colour) for name, colour in REFERENCE_COLOURS.items()}


@dataclass(frozen=True)
class Stain:
    """One image's staining and optics: what varies from slide to slide in a real collection."""

    background: np.ndarray  # (3,) float32, the illumination seen through bare plasma
    densities: dict = field(repr=False)  # component name -> (3,) float32 density at concentration 1
    vignetting: float  # relative darkening at the corners
    tilt: tuple[float, float]  # linear illumination gradient across x and y
    blur_sigma: float  # optical defocus, pixels
    noise_sigma: float  # sensor noise, grey levels


def sample_stain(rng: np.random.Generator, variation: float = 1.0) -> Stain:
    """Draw one image's stain and illumination.

    `variation` scales every jitter: 1 for the raw smears of ALL-IDB and UKM, lower for the
    stain-normalised C-NMC cells. The jitter is the same for every class, which is what keeps
    the classes from being separable by mean colour: stain strength, hue and brightness move
    all pixels of an image together and overlap between the classes.
    """
    brightness = 1.0 + variation * rng.uniform(-0.03, 0.03)
    tint = 1.0 + variation * rng.normal(0.0, 0.012, size=3)
    background = (REFERENCE_BACKGROUND * brightness * tint).astype(np.float32)
    strength = 1.0 + variation * rng.uniform(-0.12, 0.12)  # stain concentration / staining time
    hue = 1.0 + variation * rng.normal(0.0, 0.05, size=3)  # eosin/azure balance, per channel
    densities = {}
    for name, reference in REFERENCE_DENSITIES.items():
        own = 1.0 + variation * rng.normal(0.0, 0.04)  # each component takes up stain a little differently
        densities[name] = (reference * strength * hue * own).astype(np.float32)
    return Stain(
        background=background,
        densities=densities,
        vignetting=float(variation * rng.uniform(0.0, 0.07)),
        tilt=(float(variation * rng.uniform(-0.025, 0.025)), float(variation * rng.uniform(-0.025, 0.025))),
        blur_sigma=float(rng.uniform(0.35, 0.5 + 0.5 * variation)),
        noise_sigma=float(rng.uniform(0.8, 1.0 + 1.5 * variation)),
    )


def smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, smooth in between: anti-aliased edges without a per-pixel branch."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


# --- red cells --------------------------------------------------------------------------------


def red_cell_centres(
    rng: np.random.Generator,
    height: int,
    width: int,
    diameter: float,
    keep_out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (N, 2 as x, y) and radii (N,) of densely packed, often touching red cells.

    A jittered hexagonal lattice with a random orientation, a spacing close to one diameter
    (so neighbours touch or overlap slightly) and a random share of holes gives the dense but
    irregular packing of a good smear region. Lattice points within `keep_out` rows
    (x, y, radius of a white cell) are dropped so the red cells make room for white ones.
    """
    spacing = diameter * rng.uniform(1.0, 1.08)
    angle = rng.uniform(0.0, np.pi / 3.0)
    # A lattice over the image's bounding circle, rotated, so no orientation leaves bare edges.
    reach = 0.5 * np.hypot(height, width) + 2.0 * diameter
    n_cols = int(np.ceil(2.0 * reach / spacing)) + 1
    n_rows = int(np.ceil(2.0 * reach / (spacing * np.sqrt(3.0) / 2.0))) + 1
    cols, rows = np.meshgrid(np.arange(n_cols, dtype=np.float32), np.arange(n_rows, dtype=np.float32))
    u = (cols + 0.5 * (rows % 2)) * spacing - reach
    v = rows * spacing * np.sqrt(3.0) / 2.0 - reach
    cos, sin = np.cos(angle), np.sin(angle)
    x = (width / 2.0 + cos * u - sin * v).ravel()
    y = (height / 2.0 + sin * u + cos * v).ravel()
    inside = (x > -diameter) & (x < width + diameter) & (y > -diameter) & (y < height + diameter)
    x, y = x[inside], y[inside]
    x = x + rng.uniform(-0.13, 0.13, size=x.size).astype(np.float32) * spacing
    y = y + rng.uniform(-0.13, 0.13, size=y.size).astype(np.float32) * spacing
    radii = (0.5 * diameter * rng.uniform(0.9, 1.08, size=x.size)).astype(np.float32)
    keep = rng.random(x.size) >= rng.uniform(0.06, 0.24)  # gaps between cells vary by slide region
    if len(keep_out):
        gap = np.hypot(x[:, None] - keep_out[None, :, 0], y[:, None] - keep_out[None, :, 1])
        keep &= (gap >= keep_out[None, :, 2] + 0.8 * radii[:, None]).all(axis=1)
    return np.stack([x[keep], y[keep]], axis=1), radii[keep]


def splat(
    height: int,
    width: int,
    centres: np.ndarray,
    radii: np.ndarray,
    profile,
    params: np.ndarray,
    *,
    aspect: np.ndarray | None = None,
    angle: np.ndarray | None = None,
    chunk: int = 256,
) -> np.ndarray:
    """Sum one radial profile per object into an HxW float32 map, all objects at once.

    Every object is evaluated in a box of the same size, stacked as (n, S, S), and the values
    are scattered into the image with one `np.bincount` per chunk (overlaps add up). `profile`
    gets the normalised radius (n, S, S) and the per-object `params` (n, k) broadcast to
    (n, 1, 1, k) and returns densities of the same shape as the radius.
    """
    out = np.zeros(height * width, dtype=np.float64)
    if len(centres) == 0:
        return out.reshape(height, width).astype(np.float32)
    n = len(centres)
    aspect = np.ones(n, dtype=np.float32) if aspect is None else aspect.astype(np.float32)
    angle = np.zeros(n, dtype=np.float32) if angle is None else angle.astype(np.float32)
    half = int(np.ceil(float((radii * aspect).max()))) + 2
    offsets = np.arange(-half, half + 1, dtype=np.int64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        cx = centres[start:stop, 0].astype(np.float32)
        cy = centres[start:stop, 1].astype(np.float32)
        ix = np.round(cx).astype(np.int64)[:, None, None] + offsets[None, None, :]
        iy = np.round(cy).astype(np.int64)[:, None, None] + offsets[None, :, None]
        dx = ix.astype(np.float32) - cx[:, None, None]
        dy = iy.astype(np.float32) - cy[:, None, None]
        cos = np.cos(angle[start:stop])[:, None, None]
        sin = np.sin(angle[start:stop])[:, None, None]
        u = (cos * dx + sin * dy) / aspect[start:stop, None, None]
        v = -sin * dx + cos * dy
        r = radii[start:stop, None, None]
        rho = np.sqrt(u * u + v * v) / r
        value = profile(rho, r, params[start:stop, None, None, :])
        valid = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height) & (value > 0)
        flat = (iy * width + ix)[valid]
        out += np.bincount(flat, weights=value[valid], minlength=height * width)
    return out.reshape(height, width).astype(np.float32)


def red_cell_profile(rho: np.ndarray, radius: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Thickness of a biconcave disc: thickest just inside the rim, thinner (paler) in the centre."""
    pallor, pallor_width = params[..., 0], params[..., 1]
    edge = smoothstep((1.0 - rho) * radius / 2.0 + 0.5)
    rim = 0.1 * np.exp(-(((1.0 - rho) / 0.12) ** 2))
    return edge * (1.0 - pallor * np.exp(-((rho / pallor_width) ** 2)) + rim)


def platelet_profile(rho: np.ndarray, radius: np.ndarray, params: np.ndarray) -> np.ndarray:
    """A small granule cluster: dense, denser towards the middle."""
    strength = params[..., 0]
    edge = smoothstep((1.0 - rho) * radius / 1.2 + 0.5)
    return edge * strength * (1.0 - 0.4 * rho * rho)


def red_cell_thickness(
    rng: np.random.Generator, height: int, width: int, diameter: float, keep_out: np.ndarray
) -> np.ndarray:
    centres, radii = red_cell_centres(rng, height, width, diameter, keep_out)
    n = len(radii)
    params = np.stack([rng.uniform(0.3, 0.55, n), rng.uniform(0.4, 0.55, n)], axis=1).astype(np.float32)
    aspect = rng.uniform(1.0, 1.12, n).astype(np.float32)
    angle = rng.uniform(0.0, np.pi, n).astype(np.float32)
    return splat(height, width, centres, radii, red_cell_profile, params, aspect=aspect, angle=angle)


def platelet_density(
    rng: np.random.Generator, height: int, width: int, diameter: float, per_megapixel: float
) -> np.ndarray:
    """Platelets: scattered, a few in small clusters, about a seventh of a red cell across."""
    n = rng.poisson(per_megapixel * height * width / 1e6)
    if n == 0:
        return np.zeros((height, width), dtype=np.float32)
    seeds = rng.uniform((0, 0), (width, height), size=(max(1, n // 3), 2))
    owner = rng.integers(0, len(seeds), size=n)
    spread = rng.choice([0.2, 1.0, 6.0], size=n, p=[0.4, 0.4, 0.2]) * diameter  # clustered or lone
    centres = (seeds[owner] + rng.normal(0.0, 1.0, size=(n, 2)) * spread[:, None]).astype(np.float32)
    radii = (diameter * rng.uniform(0.06, 0.11, n)).astype(np.float32)
    params = rng.uniform(0.6, 1.0, (n, 1)).astype(np.float32)
    aspect = rng.uniform(1.0, 1.4, n).astype(np.float32)
    angle = rng.uniform(0.0, np.pi, n).astype(np.float32)
    return splat(height, width, centres, radii, platelet_profile, params, aspect=aspect, angle=angle)


# --- compositing ------------------------------------------------------------------------------


def illumination(stain: Stain, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Separable factors (H, 1) and (1, W) of the light field: vignetting plus a gentle tilt.

    Vignetting is 1 - v * (nx^2 + ny^2) / 2, written as a sum so it stays two 1-D arrays until
    the final broadcast.
    """
    ny = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    nx = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    rows = 1.0 - stain.vignetting * 0.5 * ny * ny + stain.tilt[1] * ny
    cols = -stain.vignetting * 0.5 * nx * nx + stain.tilt[0] * nx
    return rows.astype(np.float32), cols.astype(np.float32)


def develop(rng: np.random.Generator, density: np.ndarray, stain: Stain) -> np.ndarray:
    """Turn an HxWx3 optical-density map into the recorded uint8 RGB image.

    Works in place on `density` (a 2592x1944 slide is 60 MB per float32 copy).
    """
    height, width = density.shape[:2]
    rows, cols = illumination(stain, height, width)
    image = np.negative(density, out=density)
    np.exp(image, out=image)
    image *= stain.background[None, None, :]
    image *= (rows + cols)[:, :, None]
    image = ndimage.gaussian_filter(image, sigma=(stain.blur_sigma, stain.blur_sigma, 0.0), truncate=3.0, output=image)
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    noise *= np.float32(stain.noise_sigma)
    image += noise
    np.clip(image, 0.0, 255.0, out=image)
    np.rint(image, out=image)
    return image.astype(np.uint8)
