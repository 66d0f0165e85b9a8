"""Build the augmented ALL-IDB2 bags: decode once, pad, rotate and mirror in batches, deal into bags.

One file per bag holds uint8 tensors (loadable with `torch.load(weights_only=True)`); `index.tsv`
says, for every augmented image, its source image, group (the crop itself, or the slide it was
cut from: `crop_groups`), angle, mirror flag, label, bag and position in the bag file. The bags
are what `train` reads: no image file is opened again after this step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from leukoflow.allidb2.augment import augment_batch
from leukoflow.allidb2.provenance import AMBIGUOUS, MATCHED, read_provenance
from leukoflow.core.errors import DatasetError
from leukoflow.core.images import pad_to_square, resize_batch
from leukoflow.core.io import read_rgb, write_bag, write_table_atomic
from leukoflow.core.splits import assign_bags
from leukoflow.data.manifest import read_manifest

log = logging.getLogger(__name__)

SOURCE_GROUPING, SLIDE_GROUPING = "source crop", "slide"
PAPER_GROUPING = "none: images dealt one by one (paper)"


def load_padded(manifest: pd.DataFrame, frame: int) -> torch.Tensor:
    """Decode every crop once into one uint8 (N, 3, frame, frame) tensor, smaller crops padded."""
    images = np.stack([pad_to_square(read_rgb(p), frame, name=p) for p in manifest["path"]])
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def crop_groups(ids: Sequence[str], provenance: pd.DataFrame | None) -> tuple[np.ndarray, str]:
    """The group of every crop that leak-free bags keep whole, and the grouping's name.

    Without a provenance table every crop is its own group ("source crop"). With the table of
    `allidb2.provenance` ("slide"), crops cut from one slide share a group: a `matched` crop joins
    its slide; an `ambiguous` one joins its best and its second-best slide, which merges those two
    slides' groups (when the search cannot tell two slides apart, neither may straddle a split);
    a crop `not found` stays alone. Groups are named `slide:<id>` (the smallest slide id of the
    group) or `crop:<id>`.

    Raises
    ------
    ValueError
        When crops are missing from the provenance table (it was built from another manifest).
    """
    ids = [str(i) for i in ids]
    if provenance is None:
        return np.array(ids, dtype=object), SOURCE_GROUPING
    rows = provenance.set_index("crop").reindex(ids)
    missing = [crop for crop, verdict in zip(ids, rows["verdict"]) if not isinstance(verdict, str)]
    if missing:
        raise ValueError(f"{len(missing)} crops are missing from the provenance table, e.g. {missing[:5]}")
    parent: dict[str, str] = {}

    def root(slide: str) -> str:
        while parent.setdefault(slide, slide) != slide:
            slide = parent[slide]
        return slide

    links = rows[rows["verdict"] == AMBIGUOUS]
    for best, second in zip(links["slide"], links["second_slide"]):  # one union per ambiguous crop
        if second:
            low, high = sorted((root(best), root(second)))
            parent[high] = low
    groups = [
        f"slide:{root(slide)}" if verdict in (MATCHED, AMBIGUOUS) else f"crop:{crop}"
        for crop, slide, verdict in zip(ids, rows["slide"], rows["verdict"])
    ]
    return np.array(groups, dtype=object), SLIDE_GROUPING


def majority_labels(groups: Sequence, labels: Sequence) -> np.ndarray:
    """Each row's group label for stratified dealing: the majority class of its group (ties: 1).

    A slide can give crops of both classes (a healthy lymphocyte beside blasts), but the dealing
    of `assign_bags` stratifies whole groups by one label."""
    frame = pd.DataFrame({"group": list(groups), "label": np.asarray(labels, dtype=float)})
    return (frame.groupby("group")["label"].transform("mean") >= 0.5).astype(np.int64).to_numpy()


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
    provenance_path: str | None = None,
) -> pd.DataFrame:
    """Write one tensor file per bag and the index table; returns the index.

    `provenance_path` (leak_free only): the table of `allidb2.provenance`, so that bags keep the
    crops of one slide together (`crop_groups`); the index records each row's `group` and the
    `grouping` used.
    """
    manifest = read_manifest(manifest_path)
    if protocol == "leak_free":
        provenance = read_provenance(provenance_path) if provenance_path else None
        try:
            crop_group, grouping = crop_groups(manifest["id"], provenance)
        except ValueError as error:
            raise DatasetError(provenance_path, f"{error}; rebuild it from {manifest_path}") from None
    else:
        crop_group, grouping = manifest["source_id"].to_numpy(dtype=object), PAPER_GROUPING
    device = torch.device(device)
    sources = load_padded(manifest, frame).to(device)
    log.info("decoded %d crops into a %s tensor on %s", len(manifest), tuple(sources.shape), device)
    augmented, variants = augment_batch(sources, angles_deg, mirror)
    augmented = resize_batch(augmented, input_size).cpu()
    index = variants.assign(
        id=manifest["id"].to_numpy()[variants["source_index"]],
        source_id=manifest["source_id"].to_numpy()[variants["source_index"]],
        group=crop_group[variants["source_index"]],
        label=manifest["label"].to_numpy()[variants["source_index"]],
    )
    dealing_labels = majority_labels(index["group"], index["label"]) if protocol == "leak_free" else index["label"]
    index["bag"] = assign_bags(index["group"], dealing_labels, len(bag_outs), protocol, seed)
    index["position"] = index.groupby("bag").cumcount()
    index.insert(0, "row", np.arange(len(index)))
    index["protocol"] = protocol
    index["grouping"] = grouping
    for bag, out in enumerate(bag_outs, start=1):
        rows = index.loc[index["bag"] == bag, "row"].to_numpy(copy=True)
        write_bag(out, augmented[torch.from_numpy(rows)], index["label"].to_numpy()[rows].astype(np.int64), rows)
    write_table_atomic(index, index_out)
    log.info(
        "%s protocol, groups: %s (%d): %d augmented images (%d per source) in %d bags of %s",
        protocol,
        grouping,
        index["group"].nunique(),
        len(index),
        len(variants) // max(len(manifest), 1),
        len(bag_outs),
        index.groupby("bag").size().tolist(),
    )
    return index
