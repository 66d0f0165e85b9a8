"""Table II's row of slides no model has seen, checked against the generator's truth: which slide each
synthetic ALL-IDB2 crop was cut from, which bag holds it, and which bags trained fold 1's model."""

import pandas as pd

from leukoflow.allidb1.table2 import UNSEEN_SUBSET
from leukoflow.core.splits import BAG_FOLDS


def test_unseen_slides_row_follows_the_planted_provenance(tiny_run):
    results = tiny_run.results
    truth = pd.read_csv(results / "synthetic" / "allidb2" / "truth.tsv", sep="\t", dtype={"id": str, "slide": str})
    index = pd.read_csv(results / "allidb2" / "leak_free" / "bags" / "index.tsv", sep="\t", dtype={"id": str})
    train, val, _ = BAG_FOLDS[0]  # the tiny config trains fold 1 only: heatmap and scoring model alike
    seen_crops = set(index.loc[index["bag"].isin([*train, val]), "id"])
    seen_slides = set(truth.loc[truth["id"].isin(seen_crops), "slide"].dropna())

    verdicts = pd.read_csv(results / "allidb1" / "slide_verdicts.tsv", sep="\t", dtype={"slide": str})
    table = pd.read_csv(results / "tables" / "table2.tsv", sep="\t")
    assert truth["slide"].notna().any(), "the tiny run must cut some ALL-IDB2 crops from its slides"
    for method, group in verdicts.groupby("method"):
        expected_unseen = sorted(set(group["slide"]) - seen_slides)
        assert sorted(group.loc[group["unseen"], "slide"]) == expected_unseen
        crops = truth.dropna(subset=["slide"]).groupby("slide")["id"].nunique()
        assert group.set_index("slide")["crops_from_slide"].to_dict() == {
            slide: int(crops.get(slide, 0)) for slide in group["slide"]
        }
        row = table[(table["method"] == method) & (table["subset"] == UNSEEN_SUBSET)]
        assert len(row) == 1
        unseen = group[group["unseen"] & (group["status"] == "scored")]
        assert row.iloc[0]["n_slides"] == len(unseen)
        assert row.iloc[0][["tp", "tn", "fp", "fn"]].sum() == len(unseen)
        assert row.iloc[0]["tp"] == int(((unseen["label"] == 1) & (unseen["verdict"] == 1)).sum())
