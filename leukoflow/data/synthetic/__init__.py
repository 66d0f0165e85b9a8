"""Synthetic May-Grunwald-Giemsa smears written in the real layouts of the four datasets.

The real datasets cannot be redistributed, so the workflow's demo runs on these. Modules:
`smear` (stain, illumination, red cells, platelets, Beer-Lambert development), `cells` (white
cells and their planted morphology), `field` (composition of one field, single-cell crops),
`slides` (ALL-IDB1 slide plans: cell counts, clumps), `slide_crops` (ALL-IDB2 crops cut from
those slides, with planted provenance), `writers` (the on-disk layouts; shared plumbing),
`cnmc_writer` (the C-NMC layout and its planted difficulty: class overlap, subject effects).

Every writer takes keyword-only sizes and a seed, writes `<out_dir>/data/` in the real layout
and `<out_dir>/truth.tsv` with the planted truth, and returns the `data/` path. The same seed
gives byte-identical files.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from leukoflow.core.errors import ConfigError
from leukoflow.data.synthetic.cells import BLAST_KINDS, CELL_KINDS
from leukoflow.data.synthetic.cnmc_writer import write_cnmc
from leukoflow.data.synthetic.field import render_crop
from leukoflow.data.synthetic.screen_smears import write_screen
from leukoflow.data.synthetic.writers import write_allidb1, write_allidb2, write_ukm

__all__ = [
    "BLAST_KINDS",
    "CELL_KINDS",
    "WRITERS",
    "render_cell_crop",
    "write_allidb1",
    "write_allidb2",
    "write_cnmc",
    "write_dataset",
    "write_screen",
    "write_ukm",
]

WRITERS = {
    "allidb1": write_allidb1,
    "allidb2": write_allidb2,
    "cnmc": write_cnmc,
    "ukm": write_ukm,
    "screen": write_screen,
}


def write_dataset(name: str, out_dir: str | Path, params: dict, seed: int) -> Path:
    """Write synthetic dataset `name` with the writer's keyword arguments `params`."""
    if name not in WRITERS:
        raise ConfigError(f"synthetic: unknown dataset {name!r}; expected one of {sorted(WRITERS)}")
    writer = WRITERS[name]
    accepted = [p for p in inspect.signature(writer).parameters if p not in ("out_dir", "seed")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(f"synthetic.{name}: unknown setting(s) {unknown}; expected some of {accepted}")
    return writer(out_dir, **params, seed=seed)


def render_cell_crop(rng: np.random.Generator, kind: str, size: int = 257) -> tuple[np.ndarray, np.ndarray]:
    """One white cell of `kind` (see CELL_KINDS) about half the crop wide, centred among red
    cells: (RGB uint8 size x size x 3, nucleus mask bool size x size)."""
    field = render_crop(rng, kind, size)
    return field.rgb, field.nucleus
