"""Small I/O helpers shared by every stage: atomic writes, hashing, image decoding."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from leukoflow.core.errors import DatasetError, warn_once

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only on success.

    A killed job therefore never leaves a half-written output that looks complete.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the output the mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_table_atomic(df, target: str | Path) -> None:
    """Write a pandas DataFrame as TSV, atomically."""
    with atomic_path(target) as tmp:
        df.to_csv(tmp, sep="\t", index=False)


ID_COLUMNS = ("id", "source_id")


def read_tsv(path: str | Path, text_columns: tuple[str, ...] = (), **kwargs):
    """Read a TSV written by `write_table_atomic`, with the id columns and `text_columns` as text.

    Ids must stay text ("001" or a subject "11" is not a number, "H6" not NaN); columns the file
    lacks are ignored. Other keyword arguments go to `pandas.read_csv`.
    """
    import pandas as pd

    dtypes = dict.fromkeys((*ID_COLUMNS, *text_columns), str)
    return pd.read_csv(path, sep="\t", dtype=dtypes, **kwargs)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file fully into an HxWx3 uint8 array.

    TIFFs go through tifffile, everything else through Pillow with truncated-image loading
    off, so a cut-off JPEG or BMP raises instead of decoding grey padding. Any failure becomes
    a DatasetError naming the file. A greyscale image is made RGB by repeating its channel, with
    a warning naming the file (once per file and process): the stain colours the networks rely
    on are not in it.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            array = tifffile.imread(path)
            grey_mode = "one channel" if array.ndim == 2 else None
            alpha = array.ndim == 3 and array.shape[2] == 4
        else:
            from PIL import Image

            with Image.open(path) as image:
                image.load()
                grey_mode = f"mode {image.mode}" if Image.getmodebase(image.mode) == "L" else None
                alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
                array = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    except DatasetError:
        raise
    except Exception as exc:  # decoder errors come in many types; all mean "unreadable"
        raise DatasetError(path, f"unreadable or truncated image ({type(exc).__name__}: {exc})") from exc
    rgb = as_rgb_uint8(array, path)
    if alpha:
        warn_once(log, path, "alpha", "alpha channel dropped (the image is read as RGB; transparency is ignored)")
    if grey_mode:
        warn_once(log, path, "greyscale", f"greyscale image ({grey_mode}) converted to RGB by repeating its channel")
    return rgb


def as_rgb_uint8(array: np.ndarray, path: str | Path) -> np.ndarray:
    """Check and normalise a decoded array to HxWx3 uint8."""
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise DatasetError(path, f"expected an RGB image, got array of shape {array.shape}")
    if array.shape[2] == 4:
        array = array[:, :, :3]
    if array.dtype != np.uint8:
        raise DatasetError(path, f"expected 8-bit channels, got {array.dtype}")
    return np.ascontiguousarray(array)


MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
"""Lossless formats a mask may come in: a JPEG's ringing would move edges and blend the colour codes."""


def read_mask(path: str | Path) -> np.ndarray:
    """Decode a nucleus mask (PNG, TIFF or BMP) into a boolean HxW array.

    Accepts a binary/greyscale mask (nucleus = non-zero, any integer or float type, also stored as
    RGB with equal channels or with an alpha channel) or the colour-coded format of the public
    ALL-IDB2 masks (background white, nucleus cyan (0,255,255), cytoplasm blue (0,0,255)), also as a
    palette image. TIFFs go through tifffile (planar RGB is accepted), the rest through Pillow.

    Parameters
    ----------
    path : str or Path
        The mask file.

    Returns
    -------
    numpy.ndarray
        bool (H, W), True on nucleus pixels.

    Raises
    ------
    DatasetError
        Naming the file when it cannot be decoded or its array is not a mask.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            array = tifffile.imread(path)
        else:
            from PIL import Image

            with Image.open(path) as image:
                image.load()
                # A palette image stores indices into its colours; the colours carry the code.
                array = np.asarray(image.convert("RGBA") if image.mode in ("P", "PA") else image)
    except Exception as exc:
        raise DatasetError(path, f"unreadable or truncated mask ({type(exc).__name__}: {exc})") from exc
    return mask_from_array(array, path)


def mask_from_array(array: np.ndarray, path: str | Path = "<array>") -> np.ndarray:
    """The boolean nucleus mask of a decoded mask array (see `read_mask`).

    Raises
    ------
    DatasetError
        For an array that is neither HxW, HxWx{1,2,3,4} nor planar {3,4}xHxW.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[2] not in (1, 2, 3, 4):
        array = np.moveaxis(array, 0, -1)  # planar (channel-first) TIFF
    if array.ndim == 3 and array.shape[2] in (1, 2):
        array = array[:, :, 0]  # grey, or grey + alpha
    if array.ndim == 2:
        return array > 0
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise DatasetError(path, f"expected a binary, grey or RGB mask, got an array of shape {array.shape}")
    rgb = array[:, :, :3]
    if (rgb == rgb[:, :, :1]).all():  # grey stored as RGB
        return rgb[:, :, 0] > 0
    top = 1.0 if rgb.dtype.kind in "fb" else float(np.iinfo(rgb.dtype).max)
    high, low = rgb > top / 2, rgb < top / 2
    return low[:, :, 0] & high[:, :, 1] & high[:, :, 2]  # cyan: no red, full green and blue


def write_bag(target: str | Path, images, labels, rows, **extra) -> None:
    """One bag file: uint8 images (N, C, H, W), int64 labels (N,), int64 rows (N,) into an index
    table, and any `extra` tensors by name; loadable with `torch.load(weights_only=True)`, written
    atomically."""
    import torch

    payload = {
        "images": torch.as_tensor(images).contiguous(),
        "labels": torch.as_tensor(labels, dtype=torch.int64),
        "rows": torch.as_tensor(rows, dtype=torch.int64),
        **{name: torch.as_tensor(value).contiguous() for name, value in extra.items()},
    }
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)


def load_bags(bag_paths, bags):
    """Concatenate bag files: `bags` are 1-based numbers into `bag_paths`.

    Returns
    -------
    (torch.Tensor, torch.Tensor, torch.Tensor)
        images, labels and index-table rows of every image, bag after bag.
    """
    import torch

    parts = []
    for number in bags:
        path = bag_paths[number - 1]
        try:
            parts.append(torch.load(path, weights_only=True))
        except Exception as exc:
            raise DatasetError(path, f"not a readable bag file ({type(exc).__name__}: {exc})") from exc
    return (
        torch.cat([p["images"] for p in parts]),
        torch.cat([p["labels"] for p in parts]),
        torch.cat([p["rows"] for p in parts]),
    )
