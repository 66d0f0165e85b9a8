"""Small I/O helpers shared by every stage: atomic writes, hashing, image decoding."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from leukoflow.core.errors import DatasetError


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
    a DatasetError naming the file.
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
                array = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    except DatasetError:
        raise
    except Exception as exc:  # decoder errors come in many types; all mean "unreadable"
        raise DatasetError(path, f"unreadable or truncated image ({type(exc).__name__}: {exc})") from exc
    return as_rgb_uint8(array, path)


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


def read_mask(path: str | Path) -> np.ndarray:
    """Decode a nucleus mask into a boolean HxW array.

    Accepts a binary/greyscale mask (nucleus = non-zero) or the colour-coded format of the
    public ALL-IDB2 masks (background white, nucleus cyan (0,255,255), cytoplasm blue (0,0,255)).
    """
    path = Path(path)
    try:
        from PIL import Image

        with Image.open(path) as image:
            image.load()
            array = np.asarray(image)
    except Exception as exc:
        raise DatasetError(path, f"unreadable or truncated mask ({type(exc).__name__}: {exc})") from exc
    if array.ndim == 2:
        return array > 0
    rgb = array[:, :, :3].astype(np.int16)
    if (rgb == rgb[:, :, :1]).all():  # grey stored as RGB
        return rgb[:, :, 0] > 0
    return (rgb[:, :, 0] < 128) & (rgb[:, :, 1] > 128) & (rgb[:, :, 2] > 128)


def write_bag(target: str | Path, images, labels, rows) -> None:
    """One bag file: uint8 images (N, C, H, W), int64 labels (N,), int64 rows (N,) into an index
    table; loadable with `torch.load(weights_only=True)`, written atomically."""
    import torch

    payload = {
        "images": torch.as_tensor(images).contiguous(),
        "labels": torch.as_tensor(labels, dtype=torch.int64),
        "rows": torch.as_tensor(rows, dtype=torch.int64),
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
