"""Post-processing of the U-Net's masks: the 5x5 opening, connected components, ROI crops."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from leukoflow.ukm.segment import nucleus_components, open_masks, pick_examples, roi_crops
from tests.helpers import REPO


def disk(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def bridged_disks(shape=(64, 96), bridge_width=3):
    """Two disks of radius 12 joined by a horizontal bridge `bridge_width` pixels high."""
    mask = disk(shape, (32, 28), 12) | disk(shape, (32, 68), 12)
    mask[32 - bridge_width // 2 : 32 - bridge_width // 2 + bridge_width, 28:68] = True
    return mask


def test_opening_splits_two_disks_joined_by_a_thin_bridge():
    mask = bridged_disks()[None]
    before, _ = nucleus_components(mask)
    assert len(before) == 1
    opened = open_masks(mask, 5)
    after, labels = nucleus_components(opened)
    assert len(after) == 2
    # Each disk survives nearly whole; the bridge is gone.
    assert (after["area"] > 0.9 * np.pi * 12**2).all()
    assert not opened[0, 32, 48]
    assert sorted(np.round(after["x"])) == [28, 68] and np.allclose(after["y"], 32, atol=0.5)
    assert set(np.unique(labels)) == {0, 1, 2}


def test_opening_keeps_a_bridge_as_wide_as_the_kernel():
    opened = open_masks(bridged_disks(bridge_width=5)[None], 5)
    assert len(nucleus_components(opened)[0]) == 1
    assert (open_masks(bridged_disks()[None], 1) == bridged_disks()[None]).all()  # 1 (or 0) = off


def test_opening_does_not_erode_from_the_image_border():
    mask = np.zeros((1, 20, 20), bool)
    mask[0, :8, :8] = True  # a square in the corner
    assert (open_masks(mask, 5) == mask).all()


def test_components_are_per_image_sorted_and_filtered():
    masks = np.zeros((3, 16, 16), bool)
    masks[0, :, :] = True  # touches image 1 in the stack, must not merge with it
    masks[1, 2:6, 2:6] = True  # 16 px
    masks[1, 9:15, 9:15] = True  # 36 px: the largest
    masks[1, 0, 15] = True  # 1 px speck
    table, labels = nucleus_components(masks, min_area=2)
    assert table[["image", "component", "area", "largest"]].values.tolist() == [
        [0, 1, 256, True],
        [1, 1, 36, True],
        [1, 2, 16, False],
    ]
    assert labels[1, 0, 15] == 0  # the speck is dropped from the label map too
    assert (labels[0] == 1).all() and (labels[1, 9:15, 9:15] == 2).all()
    assert table.loc[1, ["x", "y"]].tolist() == [11.5, 11.5]


@pytest.mark.parametrize("centre", [(5, 5), (58, 3), (60, 60), (32, 32)])
def test_shifted_crops_stay_inside_the_image_and_keep_the_nucleus(centre):
    size, crop = 64, 24
    mask = disk((size, size), centre[::-1], 6)[None]
    rgb = np.zeros((1, size, size, 3), np.uint8)
    rgb[0][mask[0]] = 200
    table, _ = nucleus_components(mask)
    crops, boxes = roi_crops(rgb, table, crop)
    assert crops.shape == (1, 3, crop, crop)
    x0, y0, x1, y1 = boxes[0]
    assert 0 <= x0 and 0 <= y0 and x1 <= size and y1 <= size and x1 - x0 == crop
    # The whole nucleus is inside the crop: the crop holds every nucleus pixel of the image.
    assert int((crops[0, 0] == 200).sum()) == int(mask.sum())


def test_crop_larger_than_the_image_is_padded_not_failed():
    rgb = np.full((2, 10, 10, 3), 7, np.uint8)
    table = pd.DataFrame({"image": [1], "x": [5.0], "y": [5.0]})
    crops, boxes = roi_crops(rgb, table, 16)
    assert crops.shape == (1, 3, 16, 16) and (crops == 7).all()
    assert roi_crops(rgb, table.iloc[:0], 16)[0].shape == (0, 3, 16, 16)


def test_examples_prefer_test_images_of_each_class():
    index = pd.DataFrame(
        {
            "row": range(6),
            "label": [0, 0, 1, 1, 2, 2],
            "classifier_split": ["train", "test", "train", "train", "test", "test"],
        }
    )
    assert pick_examples(index, 1).tolist() == [1, 2, 4]


def test_segmentation_imports_neither_lightning_nor_monai():
    """ukm_segment runs the U-Net only: start-up must not pay for Lightning or MONAI."""
    code = (
        "import sys, leukoflow.ukm.segment, leukoflow.nets.unet; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('pytorch_lightning', 'lightning', 'monai')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_otsu_baseline_is_the_dark_side_of_scikit_images_threshold_per_image():
    import torch
    from skimage.color import rgb2gray
    from skimage.filters import threshold_otsu

    from leukoflow.ukm.segment import otsu_masks

    rng = np.random.default_rng(0)
    rgb = rng.integers(120, 230, (3, 3, 40, 40), dtype=np.uint8)
    rgb[:, :, 10:20, 10:20] = rng.integers(20, 80, (3, 3, 10, 10), dtype=np.uint8)  # a dark "nucleus"
    rgb[1] //= 2  # a darker image: one threshold per image, not one for the stack
    masks = otsu_masks(torch.from_numpy(rgb))
    for image, mask in zip(rgb, masks):
        grey = rgb2gray(image.transpose(1, 2, 0))
        assert (mask != (grey <= threshold_otsu(grey))).mean() < 0.002  # float32 against float64
    assert masks[:, 10:20, 10:20].mean() > 0.97 and masks.mean() < 0.07  # the nuclei, each image its own threshold
