import numpy as np
import pytest
import torch

from leukoflow.core.crops import extract_patches, patch_boxes


def coordinate_image(height, width):
    """Each pixel encodes its own position, so a crop tells where it came from."""
    yy, xx = np.mgrid[:height, :width]
    return np.stack([yy % 256, xx % 256, (yy // 256) * 16 + xx // 256], axis=-1).astype(np.uint8)


def test_interior_box_is_centred():
    boxes = patch_boxes(np.array([[500.0, 400.0]]), (1000, 1200), size=257)
    assert boxes.dtype == np.int64
    assert boxes.tolist() == [[500 - 128, 400 - 128, 500 + 129, 400 + 129]]


@pytest.mark.parametrize("x", [0, 3, 60, 600, 1190, 1199])
@pytest.mark.parametrize("y", [0, 5, 100, 500, 990, 999])
def test_boxes_stay_inside_at_every_border_and_corner(x, y):
    height, width, size = 1000, 1200, 257
    ((x0, y0, x1, y1),) = patch_boxes(np.array([[x, y]]), (height, width), size)
    assert 0 <= x0 and x1 <= width and 0 <= y0 and y1 <= height
    assert x1 - x0 == size and y1 - y0 == size
    assert x0 <= x < x1 and y0 <= y < y1  # the cell is still in its patch
    # Shifted only as much as needed: the centre is kept where the border allows it.
    assert x0 == min(max(x - size // 2, 0), width - size)
    assert y0 == min(max(y - size // 2, 0), height - size)


def test_extract_patches_matches_slicing():
    image = coordinate_image(300, 420)
    boxes = patch_boxes(np.array([[10, 10], [200, 150], [419, 299], [210.4, 5.6]]), image.shape[:2], size=65)
    patches = extract_patches(image, boxes)
    assert patches.dtype == torch.uint8 and patches.shape == (4, 3, 65, 65)
    for patch, (x0, y0, x1, y1) in zip(patches.numpy(), boxes):
        np.testing.assert_array_equal(patch, image[y0:y1, x0:x1].transpose(2, 0, 1))


def test_image_smaller_than_the_patch_is_centred_and_edge_padded():
    image = coordinate_image(40, 100)  # 40 high: smaller than a 65 patch, 100 wide: not
    boxes = patch_boxes(np.array([[50, 20]]), image.shape[:2], size=65)
    x0, y0, x1, y1 = boxes[0]
    assert (y0, y1) == (-12, 53) and 0 <= x0 and x1 <= 100
    patch = extract_patches(image, boxes)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_array_equal(patch[12:52], image[:, x0:x1])
    np.testing.assert_array_equal(patch[:12], np.repeat(image[:1, x0:x1], 12, axis=0))
    np.testing.assert_array_equal(patch[52:], np.repeat(image[-1:, x0:x1], 13, axis=0))


def test_extract_patches_empty_and_bad_boxes():
    image = coordinate_image(50, 50)
    assert extract_patches(image, np.zeros((0, 4)), size=33).shape == (0, 3, 33, 33)
    with pytest.raises(ValueError, match="squares"):
        extract_patches(image, np.array([[0, 0, 10, 12]]))
    with pytest.raises(ValueError, match="uint8"):
        extract_patches(image.astype(np.float32), np.array([[0, 0, 10, 10]]))
