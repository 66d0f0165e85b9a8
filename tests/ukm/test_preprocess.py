"""Grey + CLAHE at the network size, masks resized with their images, splits by source image."""

import numpy as np
import pandas as pd
import pytest
import torch

from leukoflow.core.io import write_table_atomic
from leukoflow.data.readers import scan
from leukoflow.data.synthetic import write_ukm
from leukoflow.ukm.preprocess import assign_splits, clahe_grey, load_preprocessed, preprocess_dataset, read_index


def test_clahe_grey_is_uint8_and_stretches_contrast():
    rng = np.random.default_rng(0)
    rgb = (rng.integers(100, 140, (64, 80, 3))).astype(np.uint8)  # a dull, low-contrast image
    grey = clahe_grey(rgb)
    assert grey.dtype == np.uint8 and grey.shape == (64, 80)
    assert np.ptp(grey) > 2 * np.ptp(rgb.mean(axis=2))


def manifest(n_per_class=6, images_per_source=1):
    rows = []
    for label in range(3):
        for i in range(n_per_class):
            rows.append(
                {"id": f"c{label}/s{label}_{i}", "source_id": f"s{label}_{i // images_per_source}", "label": label}
            )
    frame = pd.DataFrame(rows)
    return frame.assign(class_name=frame["label"].astype(str), width=10, height=10)


def test_splits_keep_source_images_whole():
    frame = manifest(n_per_class=10, images_per_source=2)
    index = assign_splits(frame, folds=3, test_fraction=0.3, seed=0)
    assert index.groupby("source_id")["unet_fold"].nunique().max() == 1
    assert index.groupby("source_id")["classifier_split"].nunique().max() == 1
    assert set(index["unet_fold"]) == {1, 2, 3}
    test_share = (index["classifier_split"] == "test").groupby(index["label"]).mean()
    assert test_share.between(0.2, 0.4).all()  # 30 % of each class's sources, rounded


def test_preprocess_writes_tensors_and_index(tmp_path):
    write_ukm(tmp_path / "ukm", per_class=2, size=64, seed=0)
    result = scan("ukm", tmp_path / "ukm" / "data")
    write_table_atomic(result.manifest, tmp_path / "manifest.tsv")
    preprocess_dataset(
        manifest_path=str(tmp_path / "manifest.tsv"),
        images_out=str(tmp_path / "images.pt"),
        index_out=str(tmp_path / "index.tsv"),
        size=48,
        clip_limit=0.01,
        kernel_size=None,
        folds=2,
        test_fraction=0.3,
        seed=0,
        threads=2,
    )
    data = load_preprocessed(str(tmp_path / "images.pt"))
    index = read_index(str(tmp_path / "index.tsv"))
    assert data["grey"].shape == (6, 1, 48, 48) and data["rgb"].shape == (6, 3, 48, 48)
    assert data["masks"].dtype == torch.uint8 and set(data["masks"].unique().tolist()) == {0, 1}
    assert index["row"].tolist() == list(range(6)) and index["id"].tolist() == sorted(result.manifest["id"])
    assert data["labels"].tolist() == index["label"].tolist()
    # The resized mask keeps the nucleus's share of the image.
    from leukoflow.core.io import read_mask

    original = np.mean([read_mask(p).mean() for p in result.manifest.sort_values("id")["annotation"]])
    assert data["masks"].float().mean().item() == pytest.approx(original, rel=0.1)
    # The nucleus is the dark part of the grey image.
    grey, masks = data["grey"][:, 0].float(), data["masks"].bool()
    assert grey[masks].mean() + 40 < grey[~masks].mean()


def test_all_idb2_style_tiffs_with_colour_coded_masks(tmp_path, caplog):
    """The public ALL-IDB2 masks in the UKM layout: odd-sized TIFF crops, colour-coded TIFF masks."""
    import tifffile

    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    sizes = {"neutrophil": (257, 235), "promyelocyte": (193, 257), "lymphoblast": (257, 257)}
    for name, (width, height) in sizes.items():
        for number in range(2):
            yy, xx = np.mgrid[:height, :width]
            nucleus = (yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (min(width, height) / 5) ** 2
            cell = (yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (min(width, height) / 3) ** 2
            rgb = rng.integers(180, 230, (height, width, 3), dtype=np.uint8)
            rgb[nucleus] = (80, 25, 120)
            mask = np.full((height, width, 3), 255, np.uint8)
            mask[cell] = (0, 0, 255)
            mask[nucleus] = (0, 255, 255)
            (root / name / "images").mkdir(parents=True, exist_ok=True)
            (root / name / "masks").mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(root / name / "images" / f"Im{number}.tif", rgb, photometric="rgb")
            tifffile.imwrite(root / name / "masks" / f"Im{number}.tif", mask, photometric="rgb")
    result = scan("ukm", root)
    write_table_atomic(result.manifest, tmp_path / "manifest.tsv")
    preprocess_dataset(
        manifest_path=str(tmp_path / "manifest.tsv"),
        images_out=str(tmp_path / "images.pt"),
        index_out=str(tmp_path / "index.tsv"),
        size=64,
        clip_limit=0.01,
        kernel_size=None,
        folds=2,
        test_fraction=0.3,
        seed=0,
    )
    data = load_preprocessed(str(tmp_path / "images.pt"))
    assert data["grey"].shape == (6, 1, 64, 64)
    # The nucleus (cyan), not the cytoplasm (blue), is the mask: a disk of radius side / 5.
    assert data["masks"].float().mean().item() == pytest.approx(np.pi / 25, rel=0.15)
    # Im0 and Im1 occur in every class folder: each stem is kept whole as one source image.
    index = read_index(str(tmp_path / "index.tsv"))
    assert (index.groupby("source_id")[["unet_fold", "classifier_split"]].nunique() == 1).all().all()
    assert "2 source ids occur in more than one class folder" in caplog.text
