"""Build the augmented ALL-IDB2 bags: decode once, pad, rotate and mirror in batches, deal into bags.

One file per bag holds uint8 tensors (loadable with `torch.load(weights_only=True)`); `index.tsv`
says, for every augmented image, its source image, angle, mirror flag, label, bag and position in
the bag file. The bags are what `train` reads: no image file is opened again after this step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from leukoflow.allidb2.augment import augment_batch
from leukoflow.core.images import pad_to_square, resize_batch
from leukoflow.core.io import read_rgb, write_bag, write_table_atomic
from leukoflow.core.splits import assign_bags
from leukoflow.data.manifest import read_manifest

log = logging.getLogger(__name__)


def load_padded(manifest: pd.DataFrame, frame: int) -> torch.Tensor:
    """Decode every crop once into one uint8 (N, 3, frame, frame) tensor, smaller crops padded."""
    images = np.stack([pad_to_square(read_rgb(p), frame, name=p) for p in manifest["path"]])
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def build_augmented_bags(
    manifest_path: str,
    bag_outs: Sequence[str],
    index_out: str,
    *,
    protocol: str,
    angles_deg: Sequence[float],
    mirror: bool,
    frame: int,
    input_size: int,
    seed: int,
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """Write one tensor file per bag and the index table; returns the index."""
    manifest = read_manifest(manifest_path)
    device = torch.device(device)
    sources = load_padded(manifest, frame).to(device)
    log.info("decoded %d crops into a %s tensor on %s", len(manifest), tuple(sources.shape), device)
    augmented, variants = augment_batch(sources, angles_deg, mirror)
    augmented = resize_batch(augmented, input_size).cpu()
    index = variants.assign(
        id=manifest["id"].to_numpy()[variants["source_index"]],
        source_id=manifest["source_id"].to_numpy()[variants["source_index"]],
        label=manifest["label"].to_numpy()[variants["source_index"]],
    )
    index["bag"] = assign_bags(index["source_id"], index["label"], len(bag_outs), protocol, seed)
    index["position"] = index.groupby("bag").cumcount()
    index.insert(0, "row", np.arange(len(index)))
    index["protocol"] = protocol
    for bag, out in enumerate(bag_outs, start=1):
        rows = index.loc[index["bag"] == bag, "row"].to_numpy(copy=True)
        write_bag(out, augmented[torch.from_numpy(rows)], index["label"].to_numpy()[rows].astype(np.int64), rows)
    write_table_atomic(index, index_out)
    log.info(
        "%s protocol: %d augmented images (%d per source) in %d bags of %s",
        protocol,
        len(index),
        len(variants) // max(len(manifest), 1),
        len(bag_outs),
        index.groupby("bag").size().tolist(),
    )
    return index
