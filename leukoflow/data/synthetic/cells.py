"""White cells, each drawn with numpy in a box around its centre, in optical density.

The morphology is what a trained model has to learn, so it is planted deliberately:

- lymphoblast: larger on average, high nucleus/cytoplasm ratio, fine finely stippled chromatin,
  1-3 paler nucleoli, irregular notched nuclear outline and a slightly irregular cell outline;
- lymphocyte: smaller, round, coarse clumped chromatin, a scant rim of cytoplasm;
- neutrophil: 2-5 nuclear lobes joined by thin strands, pinkish granular cytoplasm;
- promyelocyte: large, eccentric round nucleus, abundant cytoplasm with coarse azurophilic
  granules;
- smudge: a ruptured cell, a pale streaky smear of chromatin without cytoplasm.

The chromatin of blasts and lymphocytes has the same mean density and the same range of
contrast; it differs in spatial scale only (see `blast_chromatin`), so apart from the small
nucleoli the two kinds have the same colour distribution pixel by pixel. Their sizes overlap
and the stain varies per image alike for both, so a colour histogram classifies poorly while
texture, nucleoli and outline separate them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from leukoflow.data.synthetic.smear import Stain, smoothstep

CELL_KINDS = ("lymphoblast", "lymphocyte", "neutrophil", "promyelocyte", "smudge")
BLAST_KINDS = frozenset({"lymphoblast"})

# Diameter relative to the image's typical white-cell diameter. Blasts are larger on average but
# the ranges overlap with lymphocytes, so size alone does not classify.
RELATIVE_DIAMETER = {
    "lymphoblast": (0.93, 1.13),
    "lymphocyte": (0.85, 1.05),
    "neutrophil": (0.92, 1.08),
    "promyelocyte": (1.15, 1.35),
    "smudge": (1.05, 1.35),
}
# Half-size of the drawing box in cell radii (room for bumps, ellipticity and smears).
BOX_EXTENT = {"smudge": 1.9}
CHROMATIN_CONTRAST = 0.22  # std of chromatin density relative to its mean, for every kind


@dataclass(frozen=True)
class CellSpec:
    """A white cell to draw: kind, centre (pixels, x right, y down) and outer radius."""

    kind: str
    x: float
    y: float
    radius: float


@dataclass(frozen=True)
class CellPatch:
    """A drawn cell: optical density and masks in the box starting at (top, left)."""

    top: int
    left: int
    density: np.ndarray  # (h, w, 3) float32
    nucleus: np.ndarray  # (h, w) bool
    body: np.ndarray  # (h, w) bool, the whole cell (cytoplasm and nucleus)


def sample_radius(rng: np.random.Generator, kind: str, white_diameter: float) -> float:
    low, high = RELATIVE_DIAMETER[kind]
    return float(0.5 * white_diameter * rng.uniform(low, high))


def draw_cell(rng: np.random.Generator, spec: CellSpec, stain: Stain) -> CellPatch:
    if spec.kind not in _DRAWERS:
        raise ValueError(f"unknown white-cell kind {spec.kind!r}; expected one of {CELL_KINDS}")
    half = int(np.ceil(spec.radius * BOX_EXTENT.get(spec.kind, 1.35))) + 3
    top, left = int(round(spec.y)) - half, int(round(spec.x)) - half
    yy = np.arange(top, top + 2 * half + 1, dtype=np.float32) - np.float32(spec.y)
    xx = np.arange(left, left + 2 * half + 1, dtype=np.float32) - np.float32(spec.x)
    dy, dx = np.meshgrid(yy, xx, indexing="ij")
    layers, nucleus_shape, body_shape = _DRAWERS[spec.kind](rng, dx, dy, spec.radius)
    density = np.zeros(dx.shape + (3,), dtype=np.float32)
    for component, concentration in layers:
        density += concentration[:, :, None] * stain.densities[component][None, None, :]
    nucleus = nucleus_shape > 0.5
    return CellPatch(top, left, density, nucleus, (body_shape > 0.5) | nucleus)


# --- shape and texture primitives -------------------------------------------------------------


def blob(
    dx: np.ndarray,
    dy: np.ndarray,
    radius: float,
    *,
    aspect: float = 1.0,
    angle: float = 0.0,
    harmonics: np.ndarray | None = None,
    phases: np.ndarray | None = None,
    notches: tuple = (),
    edge: float = 1.2,
) -> np.ndarray:
    """Soft mask (0..1) of a star-shaped outline r(theta) around the origin of (dx, dy).

    r(theta) = radius * (1 + sum_k a_k cos(k theta + phi_k) - sum notch dips), k from 2, on an
    ellipse of the given aspect and orientation; `edge` is the anti-aliasing width in pixels.
    Notches are (angle, angular width, depth) Gaussian dips: clefts in the outline.
    """
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    u = (cos * dx + sin * dy) / np.float32(aspect)
    v = -sin * dx + cos * dy
    rho = np.sqrt(u * u + v * v)
    shape = np.ones_like(rho)
    if harmonics is not None and len(harmonics) or notches:
        theta = np.arctan2(v, u)
        if harmonics is not None:
            for order, (amplitude, phase) in enumerate(zip(harmonics, phases), start=2):
                shape += np.float32(amplitude) * np.cos(order * theta + np.float32(phase))
        for centre, width, depth in notches:
            offset = np.remainder(theta - np.float32(centre) + np.float32(np.pi), np.float32(2 * np.pi)) - np.float32(
                np.pi
            )
            shape -= np.float32(depth) * np.exp(-((offset / np.float32(width)) ** 2))
    return smoothstep((radius * shape - rho) / edge + 0.5)


def disc(dx: np.ndarray, dy: np.ndarray, cx: float, cy: float, radius: float, edge: float = 1.5) -> np.ndarray:
    return smoothstep((radius - np.hypot(dx - cx, dy - cy)) / edge + 0.5)


def segment(dx: np.ndarray, dy: np.ndarray, a: np.ndarray, b: np.ndarray, half_width: float) -> np.ndarray:
    """Soft mask of a capsule (thick line) from a to b: the strands joining neutrophil lobes."""
    ab = b - a
    t = np.clip(((dx - a[0]) * ab[0] + (dy - a[1]) * ab[1]) / float(ab @ ab), 0.0, 1.0)
    dist = np.hypot(dx - a[0] - t * ab[0], dy - a[1] - t * ab[1])
    return smoothstep((half_width - dist) / 1.2 + 0.5)


def grain(rng: np.random.Generator, shape: tuple[int, int], sigma) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian noise with correlation length `sigma` (pixels).

    The marginal distribution is the same for every sigma: only the spatial scale changes.
    """
    noise = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma, truncate=3.0)
    noise -= noise.mean()
    return noise / max(float(noise.std()), 1e-6)


def blast_chromatin(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Fine stipple over smooth, broad shading: no clumps at the scale of lymphocyte chromatin.

    The mix keeps unit variance at full resolution and, after 4x area downsampling, about the
    variance that lymphocyte clumps keep (0.7 against 0.85), so a histogram of a downsampled
    crop does not see the texture difference either; only its spatial scale differs.
    """
    fine = grain(rng, shape, rng.uniform(0.6, 0.9))
    broad = grain(rng, shape, rng.uniform(4.0, 6.0))
    return (0.6 * fine + 0.8 * broad).astype(np.float32)


def _contrast(rng: np.random.Generator) -> float:
    """Chromatin contrast of one cell: the same range for every kind (staining differs per cell)."""
    return CHROMATIN_CONTRAST * float(rng.uniform(0.8, 1.25))


def _rand_harmonics(rng: np.random.Generator, count: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(0.0, scale, count), rng.uniform(0.0, 2.0 * np.pi, count)


def _offset(rng: np.random.Generator, low: float, high: float) -> tuple[float, float]:
    distance, direction = rng.uniform(low, high), rng.uniform(0.0, 2.0 * np.pi)
    return float(distance * np.cos(direction)), float(distance * np.sin(direction))


# --- one drawer per kind: (layers, nucleus shape, body shape) ------------------------------------


def _lymphoblast(rng, dx, dy, radius):
    harmonics, phases = _rand_harmonics(rng, 4, 0.025)
    body = blob(
        dx, dy, radius, aspect=rng.uniform(1.0, 1.08), angle=rng.uniform(0, np.pi), harmonics=harmonics, phases=phases
    )
    ox, oy = _offset(rng, 0.0, 0.1 * radius)
    nucleus_radius = radius * rng.uniform(0.78, 0.9)
    notches = tuple(
        (rng.uniform(0, 2 * np.pi), rng.uniform(0.18, 0.4), rng.uniform(0.12, 0.28)) for _ in range(rng.integers(1, 3))
    )
    harmonics, phases = _rand_harmonics(rng, 6, 0.035)
    shape = (
        blob(
            dx - ox,
            dy - oy,
            nucleus_radius,
            aspect=rng.uniform(1.0, 1.1),
            angle=rng.uniform(0, np.pi),
            harmonics=harmonics,
            phases=phases,
            notches=notches,
        )
        * body
    )
    # Nucleoli: 1-3 pale, rather large spots inside the nucleus with a thin condensed rim.
    pale = np.zeros_like(shape)
    for _ in range(rng.integers(1, 4)):
        nx, ny = _offset(rng, 0.0, 0.5 * nucleus_radius)
        size = nucleus_radius * rng.uniform(0.12, 0.18)
        pale += rng.uniform(0.45, 0.6) * disc(dx, dy, ox + nx, oy + ny, size, edge=2.0)
    chromatin = shape * (1.0 + _contrast(rng) * blast_chromatin(rng, dx.shape))
    nucleus = chromatin * (1.0 - np.minimum(pale, 0.7))
    cytoplasm = body * (1.0 - shape) * rng.uniform(0.85, 1.15)
    return [("cytoplasm", cytoplasm), ("nucleus", nucleus)], shape, body


def _lymphocyte(rng, dx, dy, radius):
    harmonics, phases = _rand_harmonics(rng, 2, 0.012)
    body = blob(
        dx, dy, radius, aspect=rng.uniform(1.0, 1.06), angle=rng.uniform(0, np.pi), harmonics=harmonics, phases=phases
    )
    ox, oy = _offset(rng, 0.0, 0.08 * radius)
    harmonics, phases = _rand_harmonics(rng, 2, 0.015)
    shape = (
        blob(
            dx - ox,
            dy - oy,
            radius * rng.uniform(0.78, 0.9),
            aspect=rng.uniform(1.0, 1.06),
            angle=rng.uniform(0, np.pi),
            harmonics=harmonics,
            phases=phases,
        )
        * body
    )
    nucleus = shape * (1.0 + _contrast(rng) * grain(rng, dx.shape, rng.uniform(2.2, 3.2)))
    cytoplasm = body * (1.0 - shape) * rng.uniform(0.85, 1.15)
    return [("cytoplasm", cytoplasm), ("nucleus", nucleus)], shape, body


def _neutrophil(rng, dx, dy, radius):
    harmonics, phases = _rand_harmonics(rng, 3, 0.015)
    body = blob(
        dx, dy, radius, aspect=rng.uniform(1.0, 1.08), angle=rng.uniform(0, np.pi), harmonics=harmonics, phases=phases
    )
    n_lobes = int(rng.integers(2, 6))
    arc, span, start = radius * rng.uniform(0.3, 0.42), rng.uniform(2.4, 4.4), rng.uniform(0, 2 * np.pi)
    angles = start + np.linspace(0.0, span, n_lobes) + rng.normal(0.0, 0.12, n_lobes)
    centres = np.stack([arc * np.cos(angles), arc * np.sin(angles)], axis=1).astype(np.float32)
    shape = np.zeros_like(dx)
    for (cx, cy), theta in zip(centres, angles):
        lobe = blob(
            dx - cx, dy - cy, radius * rng.uniform(0.19, 0.26), aspect=rng.uniform(1.0, 1.3), angle=theta + np.pi / 2
        )  # lobes elongated along the arc
        shape = np.maximum(shape, lobe)
    for a, b in zip(centres[:-1], centres[1:]):
        shape = np.maximum(shape, segment(dx, dy, a, b, radius * rng.uniform(0.04, 0.07)))
    shape *= body
    nucleus = shape * (1.0 + _contrast(rng) * grain(rng, dx.shape, rng.uniform(2.0, 3.0)))
    outside = body * (1.0 - shape)
    granules = outside * smoothstep((grain(rng, dx.shape, 0.8) - 0.3) * 1.5) * 0.6
    cytoplasm = outside * rng.uniform(0.85, 1.15)
    return [("neutrophil_cytoplasm", cytoplasm), ("fine_granule", granules), ("nucleus", nucleus)], shape, body


def _promyelocyte(rng, dx, dy, radius):
    harmonics, phases = _rand_harmonics(rng, 3, 0.02)
    body = blob(
        dx, dy, radius, aspect=rng.uniform(1.0, 1.1), angle=rng.uniform(0, np.pi), harmonics=harmonics, phases=phases
    )
    ox, oy = _offset(rng, 0.22 * radius, 0.32 * radius)  # eccentric nucleus
    nucleus_radius = radius * rng.uniform(0.5, 0.6)
    harmonics, phases = _rand_harmonics(rng, 3, 0.02)
    shape = blob(dx - ox, dy - oy, nucleus_radius, harmonics=harmonics, phases=phases) * body
    pale = 0.3 * disc(dx, dy, ox, oy, nucleus_radius * 0.15, edge=2.0) if rng.random() < 0.5 else 0.0
    nucleus = shape * (1.0 + _contrast(rng) * grain(rng, dx.shape, 1.4)) * (1.0 - pale)
    # Coarse azurophilic granules: the top tail of coarse noise, over cytoplasm and nucleus alike.
    granules = body * smoothstep((grain(rng, dx.shape, 1.1) - 1.4) * 3.0) * rng.uniform(0.8, 1.1)
    cytoplasm = body * (1.0 - shape) * rng.uniform(0.9, 1.1)
    return [("cytoplasm", cytoplasm), ("azurophil", granules), ("nucleus", nucleus)], shape, body


def _smudge(rng, dx, dy, radius):
    # Smeared along one image axis: the chromatin is stretched into streaks that way.
    along_y = rng.random() < 0.5
    sigma = (5.0, 1.0) if along_y else (1.0, 5.0)
    angle = (np.pi / 2 if along_y else 0.0) + rng.normal(0.0, 0.1)
    harmonics, phases = _rand_harmonics(rng, 6, 0.045)
    aspect = rng.uniform(1.2, 1.7)
    shape = blob(
        dx, dy, radius * rng.uniform(0.7, 0.9), aspect=aspect, angle=angle, harmonics=harmonics, phases=phases, edge=3.0
    )
    nucleus = shape * rng.uniform(0.35, 0.6) * (1.0 + 0.35 * grain(rng, dx.shape, sigma))
    halo = blob(dx, dy, radius, aspect=aspect, angle=angle, edge=4.0) * (1.0 - shape) * 0.25
    return [("cytoplasm", halo), ("nucleus", nucleus)], shape, shape


_DRAWERS = {
    "lymphoblast": _lymphoblast,
    "lymphocyte": _lymphocyte,
    "neutrophil": _neutrophil,
    "promyelocyte": _promyelocyte,
    "smudge": _smudge,
}
