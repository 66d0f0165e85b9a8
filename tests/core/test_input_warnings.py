"""Input that is used but changed on the way is named in a warning, once per file: a greyscale
image made RGB (core.io.read_rgb), a crop larger than its frame centre-cropped (core.images)."""

import logging

import numpy as np
import tifffile
from PIL import Image

from leukoflow.core.errors import warn_once
from leukoflow.core.images import pad_to_square
from leukoflow.core.io import read_rgb


def warnings_of(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def test_warn_once_logs_each_file_and_kind_once(tmp_path, caplog):
    log = logging.getLogger("test")
    first, second = tmp_path / "a.tif", tmp_path / "b.tif"
    assert warn_once(log, first, "greyscale", "grey") is True
    assert warn_once(log, first, "greyscale", "grey again") is False
    assert warn_once(log, first, "centre-cropped", "cut") is True
    assert warn_once(log, second, "greyscale", "grey") is True
    assert warnings_of(caplog) == [f"{first}: grey", f"{first}: cut", f"{second}: grey"]


def test_greyscale_png_and_tiff_warn_once_naming_the_file(tmp_path, caplog):
    png, tif = tmp_path / "Im001_1.png", tmp_path / "Im002_1.tif"
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8)
    Image.fromarray(grey, mode="L").save(png)
    tifffile.imwrite(tif, grey)
    for path in (png, tif, png, tif):  # read twice: warned once each
        rgb = read_rgb(path)
        assert rgb.shape == (6, 8, 3) and (rgb == grey[:, :, None]).all()
    assert warnings_of(caplog) == [
        f"{png}: greyscale image (mode L) converted to RGB by repeating its channel",
        f"{tif}: greyscale image (one channel) converted to RGB by repeating its channel",
    ]


def test_rgb_and_palette_images_read_without_a_warning(tmp_path, caplog):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    tifffile.imwrite(tmp_path / "rgb.tif", rgb)
    for name in ("rgb.png", "palette.png", "rgb.tif"):
        assert read_rgb(tmp_path / name).shape == (6, 8, 3)
    assert warnings_of(caplog) == []


def test_crop_larger_than_the_frame_warns_once_naming_the_file(tmp_path, caplog):
    crop = np.zeros((260, 300, 3), dtype=np.uint8)
    name = tmp_path / "Im007_1.tif"  # warnings are once per file and process: a fresh name
    for _ in range(2):
        assert pad_to_square(crop, 257, name=name).shape == (257, 257, 3)
    assert warnings_of(caplog) == [
        f"{name}: 300x260 crop is larger than the 257x257 frame: centre-cropped, "
        "43 px of width and 3 px of height dropped"
    ]


def test_crops_that_fit_the_frame_are_padded_without_a_warning(tmp_path, caplog):
    for height, width in [(257, 257), (214, 257), (257, 193)]:
        pad_to_square(np.zeros((height, width, 3), dtype=np.uint8), 257, name=tmp_path / f"{height}x{width}.tif")
    assert warnings_of(caplog) == []
