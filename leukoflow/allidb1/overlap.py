"""Which ALL-IDB1 slides no model that scored them has seen: the slide-disjoint part of Table II.

ALL-IDB2 crops are cut from ALL-IDB1 slides, and the network that scores the slides trained on
ALL-IDB2 crops. The ALL-IDB2 provenance rule measures which slide each crop comes from
(`results/provenance/allidb2_in_allidb1.tsv`); the bag index of the models' protocol says which bag
holds each crop, and `core.splits.BAG_FOLDS` which bags trained each fold's model.

A crop comes from a slide when its provenance verdict is `matched` (its `slide`) or `ambiguous`
(its `slide` and its `second_slide`: the search could not tell them apart, so both count, as in
the ALL-IDB2 bags). The model of fold k has seen a slide when a crop from that slide (any
augmented copy of it) lies in fold k's training bags or, by default, its validation bag (it
chose the checkpoint). A slide is unseen when no model used has seen it: with the mean of several
folds' models (and the fold whose convolutional layers draw the heatmap) every one must be blind
to it. This module reads files only: it never imports the ALL-IDB2 package.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leukoflow.core.errors import DatasetError
from leukoflow.core.io import read_tsv
from leukoflow.core.splits import BAG_FOLDS

SLIDE_VERDICTS = ("matched", "ambiguous")  # provenance verdicts that tie a crop to a slide
REQUIRED_PROVENANCE = ("crop", "slide", "second_slide", "verdict")


def crop_slides(provenance: pd.DataFrame) -> pd.DataFrame:
    """One row per (crop, slide) the crop may come from: `matched` -> its slide; `ambiguous` -> its
    slide and its second slide; `not found` -> none."""
    tied = provenance[provenance["verdict"].isin(SLIDE_VERDICTS)]
    best = tied[["crop", "slide"]]
    second = tied.loc[tied["verdict"] == "ambiguous", ["crop", "second_slide"]].rename(
        columns={"second_slide": "slide"}
    )
    pairs = pd.concat([best, second], ignore_index=True)
    pairs = pairs[pairs["slide"].fillna("").astype(str) != ""]
    return pairs.astype(str).drop_duplicates().reset_index(drop=True)


def seen_bags(fold: int, include_validation: bool = True) -> tuple[int, ...]:
    """The bags whose crops the model of `fold` (1-based, Table I) has seen."""
    if not isinstance(fold, (int, np.integer)) or not 1 <= fold <= len(BAG_FOLDS):
        raise ValueError(f"fold must be an integer in 1..{len(BAG_FOLDS)}, got {fold!r}")
    train, val, _ = BAG_FOLDS[fold - 1]
    return (*train, val) if include_validation else tuple(train)


def unseen_slides(
    verdicts: pd.DataFrame,
    provenance: pd.DataFrame,
    bag_index: pd.DataFrame,
    folds: Sequence[int],
    *,
    include_validation: bool = True,
) -> pd.DataFrame:
    """Per slide of `verdicts`: how many crops come from it, which folds' models saw it, unseen or not.

    Parameters
    ----------
    verdicts : DataFrame
        Slide verdicts (`allidb1/slide_verdicts.tsv`); only its `slide` column is read.
    provenance : DataFrame
        `crop`, `slide`, `second_slide`, `verdict` (`provenance/allidb2_in_allidb1.tsv`).
    bag_index : DataFrame
        `id` (the crop) and `bag` per augmented image (`allidb2/<protocol>/bags/index.tsv` of the
        protocol whose models scored the slides).
    folds : sequence of int
        Every fold whose model scored the slides or drew their heatmap.
    include_validation : bool
        Count the validation bag as seen (default: it chose the model's checkpoint).

    Returns
    -------
    DataFrame
        Columns slide, crops_from_slide, seen_by_folds (e.g. "1,2"; empty when none), unseen (bool),
        in the row order of `verdicts`.

    Raises
    ------
    ValueError
        With no folds, an unknown fold or a missing column.
    """
    if not len(folds):
        raise ValueError("folds: at least one model must have scored the slides")
    for name, frame, columns in (
        ("verdicts", verdicts, ("slide",)),
        ("provenance", provenance, REQUIRED_PROVENANCE),
        ("bag_index", bag_index, ("id", "bag")),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks columns {missing}")
    pairs = crop_slides(provenance)
    crop_bags = bag_index[["id", "bag"]].astype({"id": str}).drop_duplicates()
    slides = verdicts["slide"].astype(str)
    seen_by = {slide: [] for slide in slides}
    for fold in sorted(set(int(f) for f in folds)):  # a few folds: not a per-item loop
        seen_crops = crop_bags.loc[crop_bags["bag"].isin(seen_bags(fold, include_validation)), "id"]
        for slide in pairs.loc[pairs["crop"].isin(seen_crops), "slide"].unique():
            if slide in seen_by:
                seen_by[slide].append(fold)
    counts = pairs.groupby("slide")["crop"].nunique()
    return pd.DataFrame(
        {
            "slide": slides.to_numpy(),
            "crops_from_slide": slides.map(counts).fillna(0).astype(int).to_numpy(),
            "seen_by_folds": [",".join(str(f) for f in seen_by[s]) for s in slides],
            "unseen": [not seen_by[s] for s in slides],
        }
    )


def read_overlap_inputs(provenance_path: str, index_path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The provenance table and the bag index as `unseen_slides` reads them, each read once; a
    missing column raises DatasetError naming the file."""
    tables = []
    for path, text_columns, required in (
        (provenance_path, ("crop", "slide", "second_slide"), REQUIRED_PROVENANCE),
        (index_path, (), ("id", "bag")),
    ):
        table = read_tsv(path, text_columns)
        missing = [c for c in required if c not in table.columns]
        if missing:
            raise DatasetError(path, f"missing columns {missing}")
        tables.append(table)
    provenance, bag_index = tables
    return provenance, bag_index
