"""Slides unseen by every model that scored them, on a hand-made example."""

import pandas as pd
import pytest

from leukoflow.allidb1.overlap import crop_slides, read_overlap_inputs, seen_bags, unseen_slides
from leukoflow.core.errors import DatasetError

# Five bags; BAG_FOLDS: fold 1 trains on B1-B3, validates on B4, tests on B5; fold 2 trains on
# B1-B3, validates on B5, tests on B4; fold 3 trains on B2-B4, validates on B5, tests on B1.
BAGS = {"c1": 1, "c2": 4, "c3": 5, "c4": 5, "c5": 2, "c6": 4}
PROVENANCE = pd.DataFrame(
    [
        # crop, slide, second_slide, verdict
        ("c1", "S1", "S9", "matched"),  # S1: a crop in B1: folds 1 and 2 train on it, fold 3 tests it
        ("c2", "S2", "S1", "matched"),  # S2: B4: fold 1 validates on it, fold 3 trains on it
        ("c3", "S3", "S2", "matched"),  # S3: B5: fold 1 tests it, folds 2 and 3 validate on it
        ("c4", "S4", "S5", "ambiguous"),  # S4 or S5, in B5
        ("c5", "S6", "S3", "not found"),  # no slide: B2 does not reach S6
        ("c6", "", "", "not found"),
    ],
    columns=["crop", "slide", "second_slide", "verdict"],
)
VERDICTS = pd.DataFrame({"slide": ["S1", "S2", "S3", "S4", "S5", "S6", "S7"], "verdict": 1})


def index():
    # Two augmented copies per crop, as in the real bag index.
    rows = [(crop, bag) for crop, bag in BAGS.items() for _ in range(2)]
    return pd.DataFrame(rows, columns=["id", "bag"])


def test_crop_slides_counts_both_slides_of_an_ambiguous_crop():
    pairs = crop_slides(PROVENANCE)
    assert sorted(map(tuple, pairs.to_numpy())) == [
        ("c1", "S1"),
        ("c2", "S2"),
        ("c3", "S3"),
        ("c4", "S4"),
        ("c4", "S5"),
    ]


@pytest.mark.parametrize(
    "folds, include_validation, unseen",
    [
        ([1], True, ["S3", "S4", "S5", "S6", "S7"]),  # fold 1 saw B1-B4
        ([1], False, ["S2", "S3", "S4", "S5", "S6", "S7"]),  # ... or only B1-B3 when validation does not count
        ([1, 2], True, ["S6", "S7"]),  # the mean of folds 1 and 2: together they saw every bag
        ([3], True, ["S1", "S6", "S7"]),  # fold 3 saw B2-B5
    ],
)
def test_a_slide_is_unseen_only_when_every_model_used_is_blind_to_it(folds, include_validation, unseen):
    result = unseen_slides(VERDICTS, PROVENANCE, index(), folds, include_validation=include_validation)
    assert result["slide"].tolist() == VERDICTS["slide"].tolist()
    assert result.loc[result["unseen"], "slide"].tolist() == unseen


def test_counts_and_folds_per_slide():
    result = unseen_slides(VERDICTS, PROVENANCE, index(), [1, 2, 3]).set_index("slide")
    assert result["crops_from_slide"].to_dict() == {"S1": 1, "S2": 1, "S3": 1, "S4": 1, "S5": 1, "S6": 0, "S7": 0}
    assert result.loc["S1", "seen_by_folds"] == "1,2"
    assert result.loc["S2", "seen_by_folds"] == "1,3"
    assert result.loc["S7", "seen_by_folds"] == "" and bool(result.loc["S7", "unseen"])


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one model"):
        unseen_slides(VERDICTS, PROVENANCE, index(), [])
    with pytest.raises(ValueError, match="fold must be"):
        seen_bags(11)
    paths = {name: tmp_path / f"{name}.tsv" for name in ("provenance", "index")}
    PROVENANCE.to_csv(paths["provenance"], sep="\t", index=False)
    index().to_csv(paths["index"], sep="\t", index=False)
    provenance, bag_index = read_overlap_inputs(str(paths["provenance"]), str(paths["index"]))
    from_files = unseen_slides(VERDICTS, provenance, bag_index, [1])
    assert from_files["unseen"].tolist() == [False, False, True, True, True, True, True]
    PROVENANCE.drop(columns="second_slide").to_csv(paths["provenance"], sep="\t", index=False)
    with pytest.raises(DatasetError, match="provenance.tsv.*second_slide"):
        read_overlap_inputs(str(paths["provenance"]), str(paths["index"]))
