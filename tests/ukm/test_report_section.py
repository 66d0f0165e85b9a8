"""The report's UKM-WBC section: rendered only from its files, the paper's values beside ours."""

import numpy as np
import pandas as pd
from PIL import Image

from leukoflow.report.compose import SECTIONS, unclaimed_keys
from leukoflow.report.framework import ReportContext, ReportInputs
from leukoflow.ukm.report_section import render_ukm, write_page
from leukoflow.ukm.tables import classification_table, loss_comparison_table, segmentation_table
from tests.ukm.test_metrics import counts_frame, random_masks

SYNTHETIC = {"dataset": "ukm", "source": "synthetic", "synthetic_seed": 7}


def write_inputs(tmp_path) -> dict[str, str]:
    predicted, truth = random_masks()
    counts = pd.concat(
        [
            counts_frame(predicted, truth, "dice", mask="opened"),
            counts_frame(predicted, truth, "dice", mask="raw"),
            counts_frame(predicted[:6], truth[:6], "dice", fold=0, mask="opened"),  # the 70/30 hold-out
            counts_frame(np.zeros_like(truth), truth, "cross_entropy", mask="raw"),
            counts_frame(np.ones_like(truth), truth, "otsu", mask="otsu"),  # the threshold baseline
        ]
    )
    history = tmp_path / "history.csv"
    pd.DataFrame({"epoch": [0, 1], "val_loss": [0.5, 0.4], "val_dice": [0.5, 0.6]}).to_csv(history, index=False)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 30)
    predictions = pd.DataFrame(
        {
            "row": range(30),
            "label": labels,
            "pred": labels[::-1],
            "source_id": [f"s{i}" for i in range(30)],
            "largest": True,
        }
    )
    images = pd.DataFrame({"row": range(30), "classifier_split": "test"})
    files = {
        "ukm_segmentation": segmentation_table(counts, "dice"),
        "ukm_loss_comparison": loss_comparison_table(counts, 1, {"dice": str(history), "cross_entropy": str(history)}),
        "ukm_classification": pd.concat(
            [
                classification_table(predictions, images).assign(method="as_published", deviations="input_size=48"),
                classification_table(predictions, images, class_weights=(1.04, 2.64, 0.6)).assign(
                    method="ours", deviations="classifier_input=crop; network=small_cnn; input_size=96"
                ),
            ],
            ignore_index=True,
        ),
        "ukm_predictions_as_published": predictions,
        "ukm_predictions_ours": predictions,
    }
    paths = {}
    for key, table in files.items():
        paths[key] = str(tmp_path / f"{key}.tsv")
        table.to_csv(paths[key], sep="\t", index=False)
    for key in ("ukm_panel", "ukm_unet_curves", "ukm_classifier_curves"):
        paths[key] = str(tmp_path / f"{key}.png")
        Image.new("RGB", (10, 6), (0, 90, 200)).save(paths[key])
    return paths


def test_section_shows_tables_comparison_and_figures(tmp_path):
    paths = write_inputs(tmp_path)
    [section] = render_ukm(ReportInputs(paths), ReportContext(sources={"ukm": SYNTHETIC}))
    body = section.body
    assert section.anchor == "ukm"
    assert "synthetic demo data" in body and "[synthetic]" in body
    tables = ("ukm-segmentation", "ukm-loss-comparison", "ukm-classification-as_published", "ukm-classification-ours")
    for table_id in tables:
        assert f"id='{table_id}'" in body
    # The paper's values sit under the hold-out row only: once per metric.
    assert body.count("paper 34.80") == 1 and body.count("paper 99.80") == 1 and body.count("paper 79.50") == 1
    segmentation = body[body.index("id='ukm-segmentation'") : body.index("id='ukm-loss-comparison'")]
    assert segmentation.index("70/30 hold-out (paper)") < segmentation.index("cross-validation (ours)")
    assert segmentation.index("paper 34.80") < segmentation.index("cross-validation (ours)")
    assert segmentation.index("cross-validation (ours)") < segmentation.index("baseline, no training (ours)")
    assert "global Otsu threshold of the grey image" in segmentation
    assert body.count("paper about 90") == 2  # beside each classifier's accuracy
    assert "collapsed to background, as the paper reports" in body
    assert "class weights neutrophil 1.04, promyelocyte 2.64, lymphoblast 0.60" in body
    ours = body[body.index("id='ukm-cls-ours'") :]
    published = body[body.index("id='ukm-cls-as_published'") : body.index("id='ukm-cls-ours'")]
    assert "<code>network: small_cnn</code>" in ours and "<code>classifier_input: crop</code>" in ours
    assert "Replaced in this run" in published and "<code>input_size: 48</code>" in published
    assert "300 microscope images" in body and "1,388" in body
    assert body.count("<img") == 5  # curves, panel, two confusion matrices, classifier curves


def test_nothing_without_inputs_and_every_key_claimed(tmp_path):
    assert render_ukm(ReportInputs({}), ReportContext()) == []
    paths = write_inputs(tmp_path)
    assert unclaimed_keys(ReportInputs(paths), SECTIONS) == []


def test_stand_alone_page(tmp_path):
    paths = write_inputs(tmp_path)
    out = tmp_path / "page.html"
    write_page({"ukm_segmentation": paths["ukm_segmentation"]}, SYNTHETIC, str(out), "UKM-WBC nucleus segmentation")
    page = out.read_text()
    assert "ukm-segmentation" in page and "ukm-classification" not in page and "synthetic demo data" in page
