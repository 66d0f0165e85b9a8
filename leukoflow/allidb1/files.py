"""The slide stage's per-group files: how they are written and read (numpy and pandas only, so
every job can read them without importing torch or scikit-image)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from leukoflow.core.io import atomic_path, read_tsv

PATCH_COLUMNS = ["slide", "x", "y", "x0", "y0", "x1", "y1", "prob_all", "abnormal"]
CENTROID_COLUMNS = ["slide", "x", "y"]
CELL_SIZE_COLUMNS = [
    "slide",
    "width",
    "height",
    "red_cell_px",
    "red_cell_spread",
    "red_cells",
    "reliable",
    "white_cells",
    "nucleus_to_red",
    "estimate_px",
    "diameter_px",
    "source",
]


def slide_paths(manifest: pd.DataFrame, slides: Sequence[str]) -> dict[str, str]:
    """Image path of every slide of a group that the manifest holds (rejected ones are absent)."""
    rows = manifest.set_index("id")
    return {slide: rows.at[slide, "path"] for slide in slides if slide in rows.index}


def save_npz(arrays: Mapping[str, np.ndarray], out: str, meta: dict | None = None) -> None:
    """Arrays by key (`<slide>` or `<slide>/<name>`) and a JSON dict of metadata, atomically."""
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays, __meta__=np.array(json.dumps(meta or {})))


def load_npz(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """`save_npz`'s arrays and metadata (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files if key != "__meta__"}
        meta = json.loads(str(data["__meta__"])) if "__meta__" in data.files else {}
    return arrays, meta


def read_tables(paths: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """The per-group TSVs of one step, concatenated (slide ids stay strings)."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    return pd.concat([read_tsv(p, text_columns=("slide",)) for p in paths], ignore_index=True)


def diameters(cell_sizes: pd.DataFrame) -> dict[str, float]:
    """slide -> white-cell diameter (pixels) of the cell-size table."""
    return dict(zip(cell_sizes["slide"], cell_sizes["diameter_px"].astype(float)))
