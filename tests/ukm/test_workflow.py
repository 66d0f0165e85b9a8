"""The whole UKM-WBC stage end to end on tiny synthetic data, with only UKM-WBC enabled."""

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy.stats import binomtest

from leukoflow.inference import read_exported
from tests.helpers import REPO, run_snakemake

TINY = yaml.safe_load((REPO / "tests" / "configs" / "tiny_ukm.yaml").read_text())
RULES = ("ukm_preprocess", "ukm_train_unet", "ukm_segment", "ukm_train_classifier", "ukm_tables")


def threshold_baselines(images_path) -> dict[str, float]:
    """Pooled Dice of Otsu's global threshold (per image, on the grey image before CLAHE, the
    better of the two) and of the all-foreground mask, against the true nucleus masks."""
    from skimage.filters import threshold_otsu

    data = torch.load(images_path, weights_only=True)
    truth = data["masks"].numpy().astype(bool)
    grey = (data["rgb"].permute(0, 2, 3, 1).numpy().astype(np.float64) @ [0.2125, 0.7154, 0.0721]).astype(np.float32)
    otsu = np.stack([image <= threshold_otsu(image) for image in grey])  # nuclei: the dark side

    def dice(predicted):
        tp = (predicted & truth).sum()
        return 2 * tp / (predicted.sum() + truth.sum())

    return {"otsu": float(dice(otsu)), "all_foreground": float(dice(np.ones_like(truth)))}


@pytest.mark.slow
def test_ukm_stage_end_to_end(workdir):
    (workdir / "tiny_ukm.yaml").write_text(yaml.safe_dump(TINY))
    run_snakemake(workdir, "--cores", "2", "--configfile", "tiny_ukm.yaml")
    results = workdir / "results"
    tables = results / "tables"

    segmentation = pd.read_csv(tables / "ukm_segmentation.tsv", sep="\t", dtype={"fold": str})
    assert segmentation[["fold", "mask"]].values.tolist() == [
        ["holdout", "opened"],
        ["1", "opened"],
        ["2", "opened"],
        ["all", "opened"],
        ["all", "raw"],
        ["all", "otsu"],
    ]
    assert (segmentation["data"] == "synthetic").all()
    index = pd.read_csv(results / "ukm" / "preprocessed" / "index.tsv", sep="\t")
    assert segmentation.loc[3, "n_images"] == 3 * TINY["synthetic"]["ukm"]["per_class"]  # every image, once
    assert segmentation.loc[0, "n_images"] == (index["classifier_split"] == "test").sum()  # the paper's 30%
    assert segmentation.loc[3, "dice"] > 0.3  # a trained U-Net, not a blank mask
    assert segmentation.loc[0, "paper_dice"] == 0.348 and segmentation["paper_dice"].iloc[1:].isna().all()

    # The U-Net against the baselines a reader would try first, on the same images (computed
    # here from the preprocessed tensors): a global Otsu threshold of the grey image (the
    # best-known one-line segmenter) and the all-foreground mask (what a collapsed network
    # scoring "nucleus everywhere" gets). The tiny config plants uneven light and red cells over
    # the cytoplasm (synthetic.ukm), which Otsu cannot follow (about 0.54 here, 0.92 without
    # them) and the U-Net, reading grey + CLAHE, can (about 0.92): a U-Net no better than the
    # threshold, or data without the planted difficulty, fails the first bound; a U-Net that
    # scores perfectly on them means the difficulty is not there.
    baselines = threshold_baselines(results / "ukm" / "preprocessed" / "images.pt")
    unet = segmentation.loc[3, "dice"]
    print(f"\nUKM tiny run: U-Net Dice {unet:.3f}, baselines {baselines}")
    assert unet >= baselines["otsu"] + 0.2, (unet, baselines)
    assert baselines["otsu"] <= 0.8, baselines
    assert unet > baselines["all_foreground"] + 0.3, (unet, baselines)
    assert unet <= 0.98, unet
    # the table's own baseline row (ukm_segment's Otsu) agrees with the one computed here
    assert segmentation.loc[5, "dice"] == pytest.approx(baselines["otsu"], abs=0.005)
    assert segmentation.loc[5, "n_images"] == segmentation.loc[3, "n_images"]

    comparison = pd.read_csv(tables / "ukm_loss_comparison.tsv", sep="\t")
    assert comparison["loss"].tolist() == ["dice", "cross_entropy"] and (comparison["fold"] == 1).all()

    classification = pd.read_csv(tables / "ukm_classification.tsv", sep="\t", keep_default_na=False)
    classes = [
        "neutrophil",
        "promyelocyte",
        "lymphoblast",
        "macro avg",
        "weighted avg",
        "accuracy",
        "accuracy per image",
    ]
    assert classification["class"].tolist() == classes * 2
    assert classification["method"].tolist() == ["as_published"] * 7 + ["ours"] * 7
    assert classification.groupby("method")["deviations"].first().to_dict() == {
        "as_published": "input_size=24",
        "ours": "classifier_input=crop; network=small_cnn; input_size=24",
    }
    test_images = set(index.loc[index["classifier_split"] == "test", "source_id"])
    for method, architecture in (("as_published", "FiveLayerCNN"), ("ours", "SmallCNN")):
        predictions = pd.read_csv(results / "ukm" / "classifier" / method / "test_predictions.tsv", sep="\t")
        assert set(predictions["source_id"]) <= test_images  # only held-out images are scored
        rows = classification[classification["method"] == method]
        assert int(rows["test_crops"].iloc[0]) == len(predictions)
        exported = read_exported(results / "ukm" / "classifier" / method / "model.pt")
        assert exported["architecture"].endswith(architecture)
    # Ours learns: on the planted classes its test accuracy is above chance (1/3) at the 5% level
    # of a one-sided binomial test; a classifier reading shuffled labels or crops fails this.
    ours = pd.read_csv(results / "ukm" / "classifier" / "ours" / "test_predictions.tsv", sep="\t")
    correct = int((ours["pred"] == ours["label"]).sum())
    assert binomtest(correct, len(ours), 1 / 3, alternative="greater").pvalue < 0.05, (correct, len(ours))

    for page in ("ukm_segmentation.html", "ukm_classification.html"):
        assert "synthetic demo data" in (tables / page).read_text()
    report = (results / "report" / "index.html").read_text()
    for table in ("ukm-segmentation", "ukm-classification-as_published", "ukm-classification-ours"):
        assert f"id='{table}'" in report, table
    assert "<section id='allidb2'>" not in report  # only the enabled dataset has a section
    for rule in RULES:
        assert list((results / "benchmarks" / rule).glob("*.tsv")), rule
        assert list((results / "logs" / rule).glob("*.log")), rule
    unets = sorted(p.stem for p in (results / "benchmarks" / "ukm_train_unet").glob("*.tsv"))
    assert unets == ["cross_entropy_fold1", "dice_fold0", "dice_fold1", "dice_fold2"]  # hold-out, 2 folds, comparison
    assert not (results / "allidb2").exists() and not (results / "manifests" / "allidb2.tsv").exists()
