"""End-to-end: synthetic ALL-IDB1 slides, ALL-IDB2 crops cut from them, the provenance rule recovers
the planted truth, and the leak-free bags group the crops by slide."""

import pandas as pd
import pytest

from tests.helpers import run_snakemake

TARGETS = (
    "results/provenance/allidb2_in_allidb1.tsv",
    "results/provenance/summary.tsv",
    "results/provenance/matches.png",
    "results/allidb2/leak_free/bags/index.tsv",
)


@pytest.mark.slow
def test_provenance_rule_recovers_the_planted_truth(workdir):
    run_snakemake(workdir, *TARGETS, "--cores", "2", "--configfile", "test_configs/tiny_provenance.yaml")
    results = workdir / "results"
    truth = pd.read_csv(results / "synthetic" / "allidb2" / "truth.tsv", sep="\t", dtype={"slide": str})
    table = pd.read_csv(results / "provenance" / "allidb2_in_allidb1.tsv", sep="\t", dtype={"slide": str})
    found = table.set_index("crop").loc[truth["id"]]
    planted = truth["slide"].notna().to_numpy()
    assert 0 < planted.sum() < len(truth)
    assert (found["verdict"].to_numpy()[planted] == "matched").all()
    assert (found["slide"].to_numpy()[planted] == truth["slide"].to_numpy()[planted]).all()
    assert (abs(found["x"].to_numpy()[planted] - truth["x"].to_numpy()[planted]) <= 3).all()
    assert (abs(found["y"].to_numpy()[planted] - truth["y"].to_numpy()[planted]) <= 3).all()
    assert (found["verdict"].to_numpy()[~planted] == "not found").all()
    summary = pd.read_csv(results / "provenance" / "summary.tsv", sep="\t").iloc[0]
    assert summary["matched"] == summary["planted_recovered"] == planted.sum()
    assert summary["not_found"] == summary["no_slide_not_found"] == (~planted).sum()
    assert (results / "provenance" / "matches.png").stat().st_size > 1000
    assert (results / "logs" / "allidb2_provenance" / "provenance.log").exists()
    # The leak-free bags read the table: every crop of one slide in one bag.
    index = pd.read_csv(results / "allidb2" / "leak_free" / "bags" / "index.tsv", sep="\t")
    assert set(index["grouping"]) == {"slide"}
    index["slide"] = index["id"].map(dict(zip(truth["id"], truth["slide"])))
    assert (index.dropna(subset=["slide"]).groupby("slide")["bag"].nunique() == 1).all()
