"""Normalised cross-correlation (NCC) template search: FFT-based, many templates per image.

The NCC of an h x w template T at offset (row, col) of an image I is

    ncc = sum((T - mean T) * (W - mean W)) / (||T - mean T|| * ||W - mean W||)

with W the h x w window of I at that offset: 1 for an exact copy (up to gain and offset), about
0 for unrelated content. Only windows wholly inside the image count ("valid" offsets).

The numerator is one cross-correlation of the image with the zero-mean template (the window's own
mean drops out because the zero-mean template sums to 0), computed for every offset at once by
FFT; the window norms come from running window sums of I and I^2 (in float64, the separable form
of an integral image), once per template size. `match_all` transforms an image once and correlates it with every template of a
`TemplateBank`, whose spectra are computed once per FFT size and reused for every image of that
size. `match_near` refines one template's position at full resolution in a small window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import fft as sfft

GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma
MIN_WINDOW_STD = 0.5
"""Grey levels: flatter windows (blank glass, saturated areas) have no defined NCC and score 0."""


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 luma of an (H, W, 3) image; a 2-D image is returned as float32."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {rgb.shape}")
    return rgb[..., :3].astype(np.float32) @ GREY_WEIGHTS


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Downscale a 2-D image by `factor` with block means (the remainder rows/columns are dropped).

    Block means low-pass before subsampling, so the coarse image of a crop and the coarse image
    of the slide region it was cut from agree closely even when the crop's corner does not fall
    on the slide's block grid.

    Raises
    ------
    ValueError
        For a factor below 1, or an image smaller than one block.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if factor == 1:
        return image.astype(np.float32)
    height, width = image.shape[0] // factor, image.shape[1] // factor
    if height == 0 or width == 0:
        raise ValueError(f"image of shape {image.shape} is smaller than one {factor}x{factor} block")
    blocks = image[: height * factor, : width * factor].reshape(height, factor, width, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def inverse_window_norms(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """1 / ||W - mean W|| for every valid height x width window W of `image` (0 for flat windows).

    Returns
    -------
    numpy.ndarray
        float64, shape (H - height + 1, W - width + 1).
    """
    values = image.astype(np.float64)
    values -= values.mean()  # smaller sums, less cancellation in sum(x^2) - sum(x)^2 / n
    n = height * width
    sums = _box_sums(values, height, width)
    squares = _box_sums(values * values, height, width)
    spread = squares - sums * sums / n  # sum over the window of (x - window mean)^2
    out = np.zeros_like(spread)
    defined = spread > n * MIN_WINDOW_STD**2
    out[defined] = 1.0 / np.sqrt(spread[defined])
    return out


def _box_sums(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Sum of every valid height x width window: running sums down the rows, then along the
    columns, each started from one vectorised sum. Cheaper than a full summed-area table when
    the windows nearly fill the image (the refinement: 257 px crops in 289 px windows)."""
    rows_out, cols_out = values.shape[0] - height + 1, values.shape[1] - width + 1
    rows = np.empty((rows_out, values.shape[1]))
    rows[0] = values[:height].sum(axis=0)
    np.cumsum(values[height:] - values[: rows_out - 1], axis=0, out=rows[1:])
    rows[1:] += rows[0]
    out = np.empty((rows_out, cols_out))
    out[:, 0] = rows[:, :width].sum(axis=1)
    np.cumsum(rows[:, width:] - rows[:, : cols_out - 1], axis=1, out=out[:, 1:])
    out[:, 1:] += out[:, :1]
    return out


def fft_shape(height: int, width: int) -> tuple[int, int]:
    """FFT size for correlating templates with an image of this size: no circular wrap reaches a
    valid offset, so the image size itself suffices, rounded up to a size FFTs are fast at."""
    return sfft.next_fast_len(height, real=True), sfft.next_fast_len(width, real=True)


class TemplateBank:
    """Templates prepared for `match_all`: zero-mean float32 copies, norms, and their spectra.

    The spectra (conjugated, zero-padded to the image's FFT size) cost one FFT per template; they
    are kept for the last FFT size asked for only, so memory stays at one bank of spectra
    (templates x FFT height x (FFT width / 2 + 1) complex64) whatever the number of images. Feed
    images grouped by size to compute them once per size.
    """

    def __init__(self, templates: Sequence[np.ndarray]):
        if not len(templates):
            raise ValueError("a template bank needs at least one template")
        self.centred = []
        for index, template in enumerate(templates):
            if template.ndim != 2 or min(template.shape) < 1:
                raise ValueError(f"template {index} must be a non-empty 2-D array, got shape {template.shape}")
            values = template.astype(np.float32)
            self.centred.append(values - values.mean(dtype=np.float64).astype(np.float32))
        self.shapes = [t.shape for t in self.centred]
        self.norms = np.array([np.sqrt(np.sum(t.astype(np.float64) ** 2)) for t in self.centred])
        self._key: tuple[int, int] | None = None
        self._spectra: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.centred)

    def groups(self) -> dict[tuple[int, int], np.ndarray]:
        """Template indices by template shape (a few shapes: one window-norm map each)."""
        out: dict[tuple[int, int], list[int]] = {}
        for index, shape in enumerate(self.shapes):
            out.setdefault(shape, []).append(index)
        return {shape: np.array(members) for shape, members in sorted(out.items())}

    def spectra(self, shape: tuple[int, int], workers: int = 1, chunk: int = 64) -> np.ndarray:
        """Conjugated spectra of every template zero-padded to `shape` (templates that do not fit
        stay zero). complex64, (len(self), shape[0], shape[1] // 2 + 1)."""
        if self._key != shape:
            self._spectra = None  # free the old bank before allocating the new one
            spectra = np.zeros((len(self), shape[0], shape[1] // 2 + 1), dtype=np.complex64)
            fits = [i for i, (h, w) in enumerate(self.shapes) if h <= shape[0] and w <= shape[1]]
            for start in range(0, len(fits), chunk):
                members = fits[start : start + chunk]
                padded = np.zeros((len(members), *shape), dtype=np.float32)
                for row, index in enumerate(members):  # copies into the padded frame, not pixel work
                    h, w = self.shapes[index]
                    padded[row, :h, :w] = self.centred[index]
                spectra[members] = np.conj(sfft.rfft2(padded, workers=workers))
            self._key, self._spectra = shape, spectra
        return self._spectra


def match_all(
    image: np.ndarray, bank: TemplateBank, *, workers: int = 1, chunk: int = 32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best NCC offset of every template of `bank` in one 2-D image.

    The image is transformed once; templates are correlated `chunk` at a time (the float32
    working set is about 3 * chunk * image pixels * 4 bytes).

    Returns
    -------
    scores, rows, cols : numpy.ndarray
        Per template: the highest NCC over the valid offsets (float64; -inf where the template
        is larger than the image or flat) and the top-left corner (row, col) where it occurs
        (-1 where there is none).
    """
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    height, width = image.shape
    shape = fft_shape(height, width)
    centred = image.astype(np.float32) - np.float32(image.mean(dtype=np.float64))
    spectrum = sfft.rfft2(centred, s=shape, workers=workers)
    spectra = bank.spectra(shape, workers)
    scores = np.full(len(bank), -np.inf)
    rows = np.full(len(bank), -1, dtype=np.int64)
    cols = np.full(len(bank), -1, dtype=np.int64)
    for (h, w), members in bank.groups().items():
        if h > height or w > width:
            continue
        valid_h, valid_w = height - h + 1, width - w + 1
        inverse = inverse_window_norms(image, h, w).astype(np.float32)
        for start in range(0, len(members), chunk):
            indices = members[start : start + chunk]
            corr = sfft.irfft2(spectra[indices] * spectrum, s=shape, workers=workers)
            corr = corr[:, :valid_h, :valid_w] * inverse
            flat = corr.reshape(len(indices), -1)
            best = flat.argmax(axis=1)
            peak = flat[np.arange(len(indices)), best].astype(np.float64)
            norms = bank.norms[indices]
            with np.errstate(divide="ignore", invalid="ignore"):
                scores[indices] = np.where(norms > 0, peak / norms, -np.inf)
            found = np.isfinite(scores[indices])
            rows[indices] = np.where(found, best // valid_w, -1)
            cols[indices] = np.where(found, best % valid_w, -1)
    return scores, rows, cols


def ncc_map(image: np.ndarray, template: np.ndarray, dtype=np.float64) -> np.ndarray:
    """NCC of `template` at every valid offset of `image`; the correlation is computed in `dtype`
    (float32 halves the time and moves scores by less than 1e-6), the window norms in float64.

    Returns
    -------
    numpy.ndarray
        Shape (H - h + 1, W - w + 1); 0 where the window or the template is flat.

    Raises
    ------
    ValueError
        When the template is larger than the image.
    """
    height, width = image.shape
    h, w = template.shape
    if h > height or w > width:
        raise ValueError(f"template {template.shape} is larger than the image {image.shape}")
    centred_template = (template - template.mean(dtype=np.float64)).astype(dtype)
    norm = np.sqrt(np.sum(centred_template.astype(np.float64) ** 2))
    if norm == 0:
        return np.zeros((height - h + 1, width - w + 1))
    shape = fft_shape(height, width)
    centred = (image - image.mean(dtype=np.float64)).astype(dtype)
    corr = sfft.irfft2(np.conj(sfft.rfft2(centred_template, s=shape)) * sfft.rfft2(centred, s=shape), s=shape)[
        : height - h + 1, : width - w + 1
    ]
    return corr * inverse_window_norms(image, h, w) / norm


def match_near(
    image: np.ndarray, template: np.ndarray, row: int, col: int, radius: int, dtype=np.float64
) -> tuple[float, int, int]:
    """Best NCC offset of `template` within `radius` pixels of (row, col), at full resolution
    (`ncc_map` in `dtype`).

    Returns
    -------
    (score, row, col)
        The top-left corner of the best window; (-inf, -1, -1) when no window of that size fits.
    """
    height, width = image.shape
    h, w = template.shape
    row0, row1 = max(row - radius, 0), min(row + radius, height - h)
    col0, col1 = max(col - radius, 0), min(col + radius, width - w)
    if row1 < row0 or col1 < col0:
        return -np.inf, -1, -1
    scores = ncc_map(image[row0 : row1 + h, col0 : col1 + w], template, dtype)
    best_row, best_col = np.unravel_index(int(scores.argmax()), scores.shape)
    return float(scores[best_row, best_col]), row0 + int(best_row), col0 + int(best_col)
