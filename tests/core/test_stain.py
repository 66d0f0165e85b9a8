import numpy as np
import pytest
from skimage import data
from skimage.color import rgb2hed

from leukoflow.core.stain import DAB, EOSIN, HAEMATOXYLIN, eosin_channel, eosin_mask, rgb_to_hed

# ALL-IDB1 colours measured on real slides (docs: /work/shared/notes/datasets.md).
BACKGROUND = (167, 166, 155)
RED_CELL = (155, 137, 135)
NUCLEUS = (80, 25, 120)


@pytest.fixture(scope="module")
def ihc():
    return data.immunohistochemistry()


def test_matches_skimage_on_ihc(ihc):
    ours = rgb_to_hed(ihc)
    assert ours.dtype == np.float32 and ours.shape == ihc.shape
    np.testing.assert_allclose(ours, rgb2hed(ihc), rtol=0, atol=2e-6)


def test_matches_skimage_on_every_channel_value():
    # Every uint8 value in every channel, including 0 (clamped before the log) and 255.
    values = np.arange(256, dtype=np.uint8)
    rng = np.random.default_rng(1)
    rgb = np.stack([values, rng.permutation(values), rng.permutation(values)], axis=-1)[None]
    np.testing.assert_allclose(rgb_to_hed(rgb), rgb2hed(rgb), rtol=0, atol=2e-6)


def test_float_input_matches_skimage(ihc):
    as_float = ihc[:64, :64].astype(np.float64) / 255.0
    np.testing.assert_allclose(rgb_to_hed(as_float), rgb2hed(as_float), rtol=1e-5, atol=2e-6)


def test_separates_haematoxylin_and_dab(ihc):
    hed = rgb_to_hed(ihc)
    rgb = ihc.astype(np.int16)
    blue = rgb[..., 2] > rgb[..., 0] + 20  # haematoxylin-stained nuclei
    brown = rgb[..., 0] > rgb[..., 2] + 40  # DAB
    assert blue.sum() > 1000 and brown.sum() > 1000
    assert hed[blue, HAEMATOXYLIN].mean() > 1.5 * hed[brown, HAEMATOXYLIN].mean()
    assert hed[brown, DAB].mean() > 1.5 * hed[blue, DAB].mean()


def test_eosin_channel_is_the_hed_eosin_channel(ihc):
    np.testing.assert_allclose(eosin_channel(ihc), rgb_to_hed(ihc)[..., EOSIN], rtol=0, atol=1e-6)


def _swatches():
    return np.array([[BACKGROUND, RED_CELL, NUCLEUS]], dtype=np.uint8).repeat(4, axis=0).repeat(4, axis=1)


def test_eosin_mask_keeps_nuclei_and_drops_red_cells_and_background():
    mask = eosin_mask(_swatches(), 0.03)
    assert mask.dtype == bool
    assert not mask[:, :8].any()  # background and red cell
    assert mask[:, 8:].all()  # white-cell nucleus


def test_eosin_mask_otsu_threshold_splits_the_same_way():
    mask = eosin_mask(_swatches(), None)
    assert not mask[:, :8].any() and mask[:, 8:].all()


def test_rejects_non_rgb():
    with pytest.raises(ValueError, match="HxWx3"):
        rgb_to_hed(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        rgb_to_hed(np.zeros((4, 4, 3), np.int32))
