"""Whole ALL-IDB1 style slides: where the white cells go, then the field around them."""

from __future__ import annotations

import numpy as np

from leukoflow.data.synthetic.cells import CellSpec, sample_radius
from leukoflow.data.synthetic.field import RED_TO_WHITE, Field, render_field
from leukoflow.data.synthetic.smear import sample_stain

# Typical white-cell diameter on a slide, pixels: magnification varies from 300x to 500x, so
# the cell size does not follow the image resolution (datasets.md: 120 px on one 1712x1368
# slide, 135 px on one 2592x1944 slide).
WHITE_DIAMETER = (112.0, 138.0)
BORDER = 4.0  # white cells lie wholly inside the slide, so every annotated blast is visible


class _Placer:
    """Non-overlapping placement of round cells by rejection sampling (a few dozen per slide)."""

    def __init__(self, rng: np.random.Generator, height: int, width: int):
        self.rng, self.height, self.width = rng, height, width
        self.cells: list[CellSpec] = []

    def fits(self, x: float, y: float, radius: float, touching_ok: frozenset = frozenset()) -> bool:
        if not (radius + BORDER <= x <= self.width - radius - BORDER):
            return False
        if not (radius + BORDER <= y <= self.height - radius - BORDER):
            return False
        for index, other in enumerate(self.cells):
            # Clump members may squeeze together a little; other cells keep a small gap.
            factor = 0.86 if index in touching_ok else 1.04
            if np.hypot(x - other.x, y - other.y) < factor * (radius + other.radius):
                return False
        return True

    def scatter(self, kind: str, radius: float, tries: int = 60) -> int | None:
        """Place one free-standing cell; return its index, or None where there is no room."""
        for _ in range(tries):
            x = self.rng.uniform(radius + BORDER, self.width - radius - BORDER)
            y = self.rng.uniform(radius + BORDER, self.height - radius - BORDER)
            if self.fits(x, y, radius):
                self.cells.append(CellSpec(kind, float(x), float(y), float(radius)))
                return len(self.cells) - 1
        return None

    def clump(self, kinds: list[str], radii: list[float], tries: int = 40) -> list[int]:
        """Place cells touching one another: the first free, each next one against a member."""
        first = self.scatter(kinds[0], radii[0])
        if first is None:
            return []
        members = [first]
        for kind, radius in zip(kinds[1:], radii[1:]):
            for _ in range(tries):
                anchor = self.cells[members[self.rng.integers(len(members))]]
                distance = self.rng.uniform(0.88, 0.97) * (anchor.radius + radius)
                direction = self.rng.uniform(0.0, 2.0 * np.pi)
                x = anchor.x + distance * np.cos(direction)
                y = anchor.y + distance * np.sin(direction)
                if self.fits(x, y, radius, touching_ok=frozenset(members)):
                    self.cells.append(CellSpec(kind, float(x), float(y), float(radius)))
                    members.append(len(self.cells) - 1)
                    break
        return members


def plan_slide(
    rng: np.random.Generator, height: int, width: int, has_blasts: bool, white_diameter: float
) -> list[CellSpec]:
    """The white cells of one slide.

    ALL slides: at least one blast, often a clump of 3-8 touching blasts, sometimes smudge cells
    and a few normal lymphocytes or neutrophils. Healthy slides: lymphocytes and neutrophils
    only, sometimes two or three of them touching.
    """
    megapixels = height * width / 1e6
    placer = _Placer(rng, height, width)

    def radius(kind: str) -> float:
        return sample_radius(rng, kind, white_diameter)

    def normal_cells(count: int, neutrophil_share: float) -> list[str]:
        return ["neutrophil" if rng.random() < neutrophil_share else "lymphocyte" for _ in range(count)]

    if has_blasts:
        if rng.random() < 0.5:
            size = int(rng.integers(3, 9))
            placer.clump(["lymphoblast"] * size, [radius("lymphoblast") for _ in range(size)])
        for _ in range(max(1, rng.poisson(megapixels * rng.uniform(0.8, 3.0)))):
            placer.scatter("lymphoblast", radius("lymphoblast"))
        if not placer.cells:  # the slide is too small for anything but one central blast
            size_cap = 0.5 * min(height, width) - BORDER
            placer.cells.append(
                CellSpec("lymphoblast", width / 2.0, height / 2.0, min(radius("lymphoblast"), size_cap))
            )
        smudges = int(rng.integers(1, 4)) if rng.random() < 0.5 else 0
        others = ["smudge"] * smudges + normal_cells(rng.poisson(0.3 * megapixels), 0.5)
    else:
        others = normal_cells(max(1, rng.poisson(megapixels * rng.uniform(0.4, 1.6))), 0.4)
        if rng.random() < 0.35:
            group = normal_cells(int(rng.integers(2, 4)), 0.5)
            placer.clump(group, [radius(kind) for kind in group])
    for kind in others:
        placer.scatter(kind, radius(kind))
    if not placer.cells:  # a healthy slide too small for the sampled cells: one centred lymphocyte
        size_cap = 0.5 * min(height, width) - BORDER
        placer.cells.append(CellSpec("lymphocyte", width / 2.0, height / 2.0, min(radius("lymphocyte"), size_cap)))
    return placer.cells


def render_slide(rng: np.random.Generator, height: int, width: int, has_blasts: bool) -> tuple[Field, list[CellSpec]]:
    """One whole slide and the white cells planted on it."""
    field, cells, _ = render_smear(rng, height, width, has_blasts)
    return field, cells


def render_smear(
    rng: np.random.Generator, height: int, width: int, has_blasts: bool, magnification: float = 1.0
) -> tuple[Field, list[CellSpec], float]:
    """`render_slide` with every size times `magnification`; also returns the planted red-cell
    diameter (pixels), the truth of the scale estimate."""
    white = rng.uniform(*WHITE_DIAMETER) * magnification
    cells = plan_slide(rng, height, width, has_blasts, white)
    stain = sample_stain(rng)  # before the red-cell size: the order of draws is the slides' identity
    red = white * rng.uniform(*RED_TO_WHITE)
    field = render_field(
        rng,
        height,
        width,
        cells,
        stain=stain,
        red_cell_diameter=red,
        platelets_per_megapixel=rng.uniform(5.0, 30.0),
    )
    return field, cells, float(red)
