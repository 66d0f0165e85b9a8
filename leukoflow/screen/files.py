"""A facility's folder of smears: which files are images, the id each gets, the manifest, the
pixel sizes a user gives, and the per-group files of the screening jobs.

Any file name works: an image's id is its path under the root with the folders joined by `__`
and every character outside letters, digits, `.`, `_` and `-` replaced by `_` (`ward B/smear
7.jpg` -> `ward_B__smear_7`); two paths that would get the same id (`a b.png`, `a_b.png`) both
get a short hash of their path appended. Ids name the overlay and GeoJSON files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from leukoflow.core.errors import ConfigError, DatasetError

SCREEN_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
OTHER_IMAGES = frozenset({".gif", ".webp", ".jp2", ".svs", ".ndpi", ".czi"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

CELL_COLUMNS = [
    "image",
    "cell",
    "x",
    "y",
    "x0",
    "y0",
    "x1",
    "y1",
    "diameter_px",
    "p_all",
    "p_all_sd",
    "abnormal",
    "in_domain",
    "lobes",
    "feature_ratio",
]
IMAGE_COLUMNS = [
    "image",
    "width",
    "height",
    "scale_px_per_rbc",
    "scale_source",
    "white_cells",
    "abnormal_cells",
    "max_p_all",
    "verdict",
    "in_domain",
    "reason",
    "path",
    "scale_spread",
    "red_cells",
    "pixel_size_um",
    "nucleus_to_red",
    "crop_px",
    "stain_outside",
    "median_feature_ratio",
]
VERDICTS = ("ALL", "not assessed", "healthy")
"""In the order a reviewer should see them."""


def image_id(relative: str) -> str:
    parts = Path(relative).with_suffix("").parts
    return "__".join(_UNSAFE.sub("_", part).strip("_") or "_" for part in parts)


def list_images(root: str | Path) -> pd.DataFrame:
    """Every screenable image under `root` (recursively, hidden files skipped), sorted by path:
    columns id, relative, path. Files with other image suffixes are listed with `supported`
    False so the manifest can report them."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"screen.root: not a folder: {root}")
    rows = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in Path(relative).parts) or not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix in SCREEN_SUFFIXES or suffix in OTHER_IMAGES:
            rows.append((relative, str(path), suffix in SCREEN_SUFFIXES))
    table = pd.DataFrame(rows, columns=["relative", "path", "supported"])
    table["id"] = [image_id(r) for r in table["relative"]]
    clash = table["id"].duplicated(keep=False)
    table.loc[clash, "id"] = [
        f"{i}-{hashlib.sha1(r.encode()).hexdigest()[:8]}"
        for i, r in zip(table.loc[clash, "id"], table.loc[clash, "relative"])
    ]
    return table[["id", "relative", "path", "supported"]]


def build_screen_manifest(root: str | Path, strict: bool, manifest_out: str, rejected_out: str) -> pd.DataFrame:
    """Decode and hash every image (threads); a bad file stops a strict run naming it, or is
    listed in `rejected_out`. Unsupported image types are problems like undecodable files."""
    from leukoflow.core.io import write_table_atomic
    from leukoflow.data.readers.common import Candidate, Problems, build_manifest

    listing = list_images(root)
    problems = Problems("screen", strict)
    for row in listing[~listing["supported"]].itertuples():
        problems.report(row.path, f"image type {Path(row.path).suffix!r} is not screened; convert it to TIFF or PNG")
    candidates = [
        Candidate(id=row.id, path=Path(row.path), label=-1, class_name="", source_id=row.relative)
        for row in listing[listing["supported"]].itertuples()
    ]
    if not candidates:
        raise DatasetError(root, "no JPEG, PNG, TIFF or BMP image found to screen")
    result = build_manifest("screen", Path(root), candidates, problems)
    manifest = result.manifest.rename(columns={"source_id": "relative"})
    write_table_atomic(manifest, manifest_out)
    write_table_atomic(result.rejected, rejected_out)
    return manifest


def read_screen_manifest(path: str | Path) -> pd.DataFrame:
    from leukoflow.core.io import read_tsv

    return read_tsv(path, text_columns=("relative", "path"), keep_default_na=False)


def pixel_sizes(setting, listing: pd.DataFrame) -> dict[str, float]:
    """image id -> um per pixel from `screen.pixel_size_um`: nothing (None), one value for every
    image, or a CSV `image,pixel_size_um` whose `image` is a file name, a path under the root or
    an id. Raises ConfigError naming the file and rows it cannot use."""
    if setting in (None, ""):
        return {}
    if isinstance(setting, (int, float)):
        if not setting > 0:
            raise ConfigError(f"screen.pixel_size_um: must be positive, got {setting}")
        return dict.fromkeys(listing["id"], float(setting))
    path = Path(str(setting)).expanduser()
    if not path.is_file():
        raise ConfigError(f"screen.pixel_size_um: neither a number nor a CSV file: {setting}")
    try:
        table = pd.read_csv(path, dtype={"image": str})
    except Exception as exc:
        raise ConfigError(f"{path}: unreadable pixel-size CSV ({exc})") from exc
    if list(table.columns[:2]) != ["image", "pixel_size_um"]:
        raise ConfigError(f"{path}: expected the columns image,pixel_size_um, got {','.join(table.columns)}")
    keys: dict[str, str] = {}
    for row in listing.itertuples():
        for key in (row.id, row.relative, Path(row.relative).name):
            keys.setdefault(key, row.id)
    sizes, unknown = {}, []
    for image, value in zip(table["image"], table["pixel_size_um"]):
        if image not in keys:
            unknown.append(image)
            continue
        if not (pd.notna(value) and float(value) > 0):
            raise ConfigError(f"{path}: pixel_size_um of {image} must be a positive number, got {value}")
        sizes[keys[image]] = float(value)
    if unknown:
        raise ConfigError(f"{path}: no image under screen.root is called {', '.join(map(str, unknown[:5]))}")
    return sizes


def group_ids(ids: Sequence[str], group_size: int) -> list[list[str]]:
    ids = list(ids)
    return [ids[start : start + group_size] for start in range(0, len(ids), group_size)]


def read_group_tables(paths: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    from leukoflow.core.io import read_tsv

    tables = [read_tsv(p, text_columns=("image", "reason", "scale_source", "path", "stain_outside")) for p in paths]
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(columns))


def verdict_order(images: pd.DataFrame) -> pd.DataFrame:
    """Images in review order: ALL, then not assessed, then healthy; highest P(ALL) first."""
    rank = images["verdict"].map({v: i for i, v in enumerate(VERDICTS)}).fillna(len(VERDICTS))
    return (
        images.assign(_rank=rank, _p=images["max_p_all"].fillna(-1.0))
        .sort_values(["_rank", "_p", "image"], ascending=[True, False, True], kind="stable")
        .drop(columns=["_rank", "_p"])
        .reset_index(drop=True)
    )
