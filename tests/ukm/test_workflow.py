"""The whole UKM-WBC stage end to end on tiny synthetic data, with only UKM-WBC enabled."""

import pandas as pd
import pytest
import yaml

from tests.helpers import REPO, run_snakemake

TINY = yaml.safe_load((REPO / "tests" / "configs" / "tiny_ukm.yaml").read_text())
RULES = ("ukm_preprocess", "ukm_train_unet", "ukm_segment", "ukm_train_classifier", "ukm_tables")


@pytest.mark.slow
def test_ukm_stage_end_to_end(workdir):
    (workdir / "tiny_ukm.yaml").write_text(yaml.safe_dump(TINY))
    run_snakemake(workdir, "--cores", "2", "--configfile", "tiny_ukm.yaml")
    results = workdir / "results"
    tables = results / "tables"

    segmentation = pd.read_csv(tables / "ukm_segmentation.tsv", sep="\t", dtype={"fold": str})
    assert segmentation[["fold", "mask"]].values.tolist() == [
        ["1", "opened"],
        ["2", "opened"],
        ["all", "opened"],
        ["all", "raw"],
    ]
    assert (segmentation["data"] == "synthetic").all()
    assert segmentation.loc[2, "n_images"] == 3 * TINY["synthetic"]["ukm"]["per_class"]  # every image, once
    assert segmentation.loc[2, "dice"] > 0.3  # a trained U-Net, not a blank mask
    assert (segmentation["paper_dice"] == 0.348).all()

    comparison = pd.read_csv(tables / "ukm_loss_comparison.tsv", sep="\t")
    assert comparison["loss"].tolist() == ["dice", "cross_entropy"] and (comparison["fold"] == 1).all()

    classification = pd.read_csv(tables / "ukm_classification.tsv", sep="\t")
    assert classification["class"].tolist() == [
        "neutrophil",
        "promyelocyte",
        "lymphoblast",
        "macro avg",
        "weighted avg",
        "accuracy",
        "accuracy per image",
    ]
    predictions = pd.read_csv(results / "ukm" / "classifier" / "test_predictions.tsv", sep="\t")
    index = pd.read_csv(results / "ukm" / "preprocessed" / "index.tsv", sep="\t")
    test_images = set(index.loc[index["classifier_split"] == "test", "source_id"])
    assert set(predictions["source_id"]) <= test_images  # only held-out images are scored
    assert classification["test_crops"].iloc[0] == len(predictions)

    for page in ("ukm_segmentation.html", "ukm_classification.html"):
        assert "synthetic demo data" in (tables / page).read_text()
    report = (results / "report" / "index.html").read_text()
    assert "id='ukm-segmentation'" in report and "id='ukm-classification'" in report
    assert "<section id='allidb2'>" not in report  # only the enabled dataset has a section
    for rule in RULES:
        assert list((results / "benchmarks" / rule).glob("*.tsv")), rule
        assert list((results / "logs" / rule).glob("*.log")), rule
    assert len(list((results / "benchmarks" / "ukm_train_unet").glob("*.tsv"))) == 3  # 2 folds + comparison
    assert not (results / "allidb2").exists() and not (results / "manifests" / "allidb2.tsv").exists()
