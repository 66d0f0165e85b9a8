"""End-to-end: the slide rules on tiny synthetic slides, both methods, slides in groups of three."""

import pandas as pd
import pytest

from tests.helpers import run_snakemake

TARGETS = ("results/tables/table2.tsv", "results/allidb1/panels/Im001_1.png")


@pytest.mark.slow
def test_both_methods_run_side_by_side_in_groups(workdir):
    run_snakemake(workdir, *TARGETS, "--cores", "2", "--configfile", "test_configs/tiny_allidb1.yaml")
    results = workdir / "results"
    table = pd.read_csv(results / "tables" / "table2.tsv", sep="\t")
    assert table["method"].unique().tolist() == ["as_published", "improved"]
    assert set(table["subset"]) == {"all scored slides", "slides unseen by the models"}  # provenance runs
    table = table[table["subset"] == "all scored slides"]
    assert len(table) == 2
    assert (table["n_slides"] == 5).all() and (table["paper_tp"] == 49).all()
    verdicts = pd.read_csv(results / "allidb1" / "slide_verdicts.tsv", sep="\t")
    assert len(verdicts) == 10 and verdicts["diameter_px"].gt(0).all()
    localisation = pd.read_csv(results / "tables" / "allidb1_localisation.tsv", sep="\t")
    pooled = localisation[localisation["slide"] == "pooled"].set_index("method")
    assert pooled["pixel_auc"].between(0, 1).all() and pooled.loc["as_published", "inverted_slides"] == 0
    # The improved method's calibration leaves no slide's map lower on the stained pixels.
    assert (localisation.loc[localisation["method"] == "improved", "eosin_auc"] >= 0.5).all()
    for method in ("as_published", "improved"):
        for group in (1, 2):  # five slides in groups of three
            assert (results / "allidb1" / method / f"group{group}" / "patches.tsv").exists()
        assert (results / "logs" / "allidb1_heatmap" / f"{method}_group1.log").exists()
    assert len(list((results / "allidb1" / "panels").glob("*.png"))) == 5
    sizes = pd.read_csv(results / "allidb1" / "cell_sizes.tsv", sep="\t")
    assert sizes["diameter_px"].between(60, 250).all()
