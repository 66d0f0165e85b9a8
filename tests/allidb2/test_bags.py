"""Augmented bags written from a real-layout ALL-IDB2 folder: sizes, labels, leak-freedom, content."""

import pandas as pd
import pytest
import torch

from leukoflow.allidb2.bags import build_augmented_bags
from leukoflow.core.images import pad_to_square, resize_batch
from leukoflow.core.io import load_bags, read_rgb, write_table_atomic
from leukoflow.data.readers import scan
from leukoflow.data.synthetic import write_allidb2


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("allidb2")
    data = write_allidb2(root / "synthetic", n_all=10, n_healthy=10, odd_sizes=True, seed=4)
    path = root / "allidb2.tsv"
    write_table_atomic(scan("allidb2", data).manifest, path)
    return path


@pytest.mark.parametrize("protocol", ["leak_free", "paper"])
def test_bags(tmp_path, manifest_path, protocol):
    bag_paths = [str(tmp_path / f"bag{b}.pt") for b in range(1, 6)]
    index = build_augmented_bags(
        str(manifest_path),
        bag_paths,
        str(tmp_path / "index.tsv"),
        protocol=protocol,
        angles_deg=[0, 90, 180, 270],
        mirror=True,
        frame=257,
        input_size=65,
        seed=1,
    )
    assert len(index) == 20 * 8
    written = pd.read_csv(tmp_path / "index.tsv", sep="\t", dtype={"source_id": str})
    assert len(written) == len(index)
    for bag, path in enumerate(bag_paths, start=1):
        payload = torch.load(path, weights_only=True)
        rows = written[written["bag"] == bag]
        assert payload["images"].shape == (len(rows), 3, 65, 65) and payload["images"].dtype == torch.uint8
        assert payload["labels"].tolist() == rows["label"].tolist()
        assert payload["rows"].tolist() == rows["row"].tolist()
        assert sorted(rows["label"].value_counts().tolist()) == [16, 16]  # class-balanced bags
    bags_per_source = written.groupby("source_id")["bag"].nunique()
    if protocol == "leak_free":
        assert (bags_per_source == 1).all()
    else:
        assert (bags_per_source > 1).any()


def test_unrotated_copy_is_the_padded_resized_source(tmp_path, manifest_path):
    bag_paths = [str(tmp_path / f"bag{b}.pt") for b in range(1, 6)]
    build_augmented_bags(
        str(manifest_path),
        bag_paths,
        str(tmp_path / "index.tsv"),
        protocol="leak_free",
        angles_deg=[0, 180],
        mirror=False,
        frame=257,
        input_size=129,
        seed=0,
    )
    index = pd.read_csv(tmp_path / "index.tsv", sep="\t", dtype={"source_id": str})
    manifest = pd.read_csv(manifest_path, sep="\t", dtype={"id": str})
    row = index[(index["angle"] == 0)].iloc[3]
    images, _, rows = load_bags(bag_paths, [int(row["bag"])])
    image = images[rows.tolist().index(int(row["row"]))]
    source = manifest.set_index("id").loc[row["id"], "path"]
    expected = torch.from_numpy(pad_to_square(read_rgb(source), 257)).permute(2, 0, 1)[None]
    assert torch.equal(image, resize_batch(expected, 129)[0])
    assert not torch.equal(image, images[rows.tolist().index(int(row["row"]) + 1)])  # 180 degrees differs
