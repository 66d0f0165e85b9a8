"""Rotation/mirror augmentation: geometry, ordering, index table, chunking, padding."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from leukoflow.allidb2.augment import (
    PAPER_ANGLES_DEG,
    augment_batch,
    rotate_mirror_batch,
    variant_table,
)

SIZE = 65  # small frames keep the suite fast; the maths does not depend on the size
CENTRE = slice(SIZE // 4, SIZE - SIZE // 4)  # a square well inside the disc that never sees padding


def smooth_asymmetric(size: int = SIZE, channels_differ: bool = True) -> torch.Tensor:
    """(1, 3, S, S) uint8 with slow gradients (interpolation stays accurate) and no symmetry."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = 100 + 60 * np.sin(xx / 7) + 40 * np.cos(yy / 5) + 0.8 * xx - 0.3 * yy
    channels = [base, base * 0.7 + 0.5 * yy, base * 0.5 + 40] if channels_differ else [base] * 3
    return torch.from_numpy(np.stack(channels).clip(0, 255).astype(np.uint8))[None]


def random_images(n: int, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((a.to(torch.int16) - b.to(torch.int16)).abs().max())


def test_paper_augmentation_gives_36_pairwise_distinct_variants():
    out, table = augment_batch(smooth_asymmetric())
    assert out.shape == (36, 3, SIZE, SIZE)
    assert len(table) == 36
    flat = out.reshape(36, -1).to(torch.float32)
    distances = torch.cdist(flat, flat, p=1) / flat.shape[1]  # mean absolute difference per pixel
    off_diagonal = distances[~torch.eye(36, dtype=torch.bool)]
    assert float(off_diagonal.min()) > 1.0


def test_angle_zero_returns_input_exactly_and_mirror_is_a_flip():
    images = random_images(3)
    out = rotate_mirror_batch(images, [0], mirror=True)
    assert torch.equal(out[0::2], images)
    assert torch.equal(out[1::2], images.flip(-1))
    assert torch.equal(rotate_mirror_batch(images, [0, 360], mirror=False)[0::2], images)


@pytest.mark.parametrize("angle, k", [(90, 1), (180, 2), (270, 3), (-90, -1)])
def test_right_angles_match_rot90(angle, k):
    images = random_images(2, seed=1)
    rotated = rotate_mirror_batch(images, [angle], mirror=False)
    expected = torch.rot90(images, k, dims=(-2, -1))  # k > 0 is counter-clockwise as displayed
    # Pixel centres map onto pixel centres, so the whole frame agrees; allow 1 for float round-off.
    assert max_abs_diff(rotated, expected) <= 1
    assert max_abs_diff(rotated[..., CENTRE, CENTRE], expected[..., CENTRE, CENTRE]) == 0


def test_twenty_degrees_matches_scipy_rotate_in_the_interior():
    image = smooth_asymmetric()
    rotated = rotate_mirror_batch(image, [20], mirror=False)[0].numpy().astype(np.float32)
    for channel in range(3):
        reference = ndi.rotate(image[0, channel].numpy().astype(np.float32), 20, reshape=False, order=1)
        assert np.abs(rotated[channel][CENTRE, CENTRE] - reference[CENTRE, CENTRE]).max() <= 1.0
    # The opposite sense would be far off: proves the comparison can fail.
    wrong = ndi.rotate(image[0, 0].numpy().astype(np.float32), -20, reshape=False, order=1)
    assert np.abs(rotated[0][CENTRE, CENTRE] - wrong[CENTRE, CENTRE]).max() > 10


@pytest.mark.parametrize("angle", [20, 60, 140])
def test_blob_moves_counter_clockwise_about_the_frame_centre(angle):
    size, radius = 81, 20
    centre = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    blob = 250 * np.exp(-((xx - centre - radius) ** 2 + (yy - centre) ** 2) / (2 * 3.0**2))
    image = torch.from_numpy(np.repeat(blob.astype(np.uint8)[None, None], 3, axis=1))
    out = rotate_mirror_batch(image, [angle], mirror=True)[:, 0].numpy().astype(np.float64)
    theta = np.deg2rad(angle)
    expected = (centre + radius * np.cos(theta), centre - radius * np.sin(theta))  # y grows downwards
    for variant, mirrored in ((out[0], False), (out[1], True)):
        cx = (variant * xx).sum() / variant.sum()
        cy = (variant * yy).sum() / variant.sum()
        ex = 2 * centre - expected[0] if mirrored else expected[0]
        assert abs(cx - ex) < 0.5 and abs(cy - expected[1]) < 0.5


@pytest.mark.parametrize("angle", [20, 40, 100, 340])
def test_mirror_after_rotate_equals_rotate_back_after_mirror(angle):
    image = smooth_asymmetric()
    mirror_of_rotated = rotate_mirror_batch(image, [angle], mirror=True)[1]
    rotated_back_of_mirror = rotate_mirror_batch(image.flip(-1), [-angle], mirror=False)[0]
    assert max_abs_diff(mirror_of_rotated[:, CENTRE, CENTRE], rotated_back_of_mirror[:, CENTRE, CENTRE]) <= 1
    # The naive composition (same angle) is a different image: the identity above is not vacuous.
    rotated_of_mirror = rotate_mirror_batch(image.flip(-1), [angle], mirror=False)[0]
    assert max_abs_diff(mirror_of_rotated[:, CENTRE, CENTRE], rotated_of_mirror[:, CENTRE, CENTRE]) > 10


def test_ordering_matches_index_table():
    images = random_images(3, seed=2)
    angles = [0, 20, 200]
    out, table = augment_batch(images, angles, mirror=True)
    assert list(table.columns) == ["source_index", "angle", "mirrored"]
    assert len(table) == len(out) == 3 * len(angles) * 2
    # source-major, then angle, then unmirrored before mirrored
    assert table["source_index"].is_monotonic_increasing
    assert table.loc[:5, "angle"].tolist() == [0, 0, 20, 20, 200, 200]
    assert table.loc[:5, "mirrored"].tolist() == [False, True] * 3
    for row in table.itertuples():  # tiny table in a test: rebuild every output one at a time
        single = rotate_mirror_batch(images[row.source_index : row.source_index + 1], [row.angle], mirror=True)
        assert torch.equal(out[row.Index], single[int(row.mirrored)])


def test_index_table_without_mirror_and_paper_count():
    table = variant_table(260, PAPER_ANGLES_DEG, mirror=True)
    assert len(table) == 9360
    assert (table.groupby("source_index").size() == 36).all()
    assert sorted(table["angle"].unique()) == list(range(0, 360, 20))
    plain = variant_table(2, [10.5, 30], mirror=False)
    assert plain["angle"].tolist() == [10.5, 30.0, 10.5, 30.0]
    assert not plain["mirrored"].any()


def test_uint8_in_and_out_and_bad_inputs_rejected():
    out = rotate_mirror_batch(random_images(1), [30], mirror=False)
    assert out.dtype == torch.uint8 and out.device.type == "cpu"
    with pytest.raises(ValueError, match="uint8"):
        rotate_mirror_batch(random_images(1).float(), [30])
    with pytest.raises(ValueError, match="shape"):
        rotate_mirror_batch(torch.zeros((1, 3, 10, 12), dtype=torch.uint8), [30])
    with pytest.raises(ValueError, match="chunk_size"):
        rotate_mirror_batch(random_images(1), [30], chunk_size=0)


def test_chunking_does_not_change_results():
    images = random_images(5, seed=3)
    angles = [0, 20, 45, 300]
    reference = rotate_mirror_batch(images, angles, mirror=True, chunk_size=100)
    for chunk_size in (1, 2, 3):
        assert torch.equal(rotate_mirror_batch(images, angles, mirror=True, chunk_size=chunk_size), reference)


def test_empty_batch():
    out, table = augment_batch(torch.zeros((0, 3, SIZE, SIZE), dtype=torch.uint8))
    assert out.shape == (0, 3, SIZE, SIZE) and len(table) == 0
