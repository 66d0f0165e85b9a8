"""The report states plainly, per method, whether the heatmap localises the cells, with the crop
calibration beside it, and lists each slide's white-cell diameter."""

import pandas as pd

from leukoflow.allidb1.report_heatmap import method_statement, render_localisation
from leukoflow.report.framework import ReportContext, ReportInputs


def localisation_file(tmp_path):
    rows = []
    for method, auc, calibrated in (("as_published", 0.22, False), ("improved", 0.78, True)):
        for slide in ("Im001_1", "pooled"):
            rows.append(
                {
                    "data": "synthetic",
                    "method": method,
                    "slide": slide,
                    "pixel_auc": auc,
                    "pixel_auc_in_eosin": 0.55,
                    "point_auc": auc,
                    "eosin_auc": 0.7,
                    "white_cell_share_of_eosin": 0.8,
                    "calibrated": calibrated,
                    "polarity": -1 if calibrated else 1,
                    "slides": 1,
                    "inverted_slides": 1 if calibrated else 0,
                }
            )
    path = tmp_path / "loc.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return str(path)


def test_each_method_gets_its_sentence_and_the_calibration(tmp_path):
    sizes = tmp_path / "sizes.tsv"
    pd.DataFrame(
        [["Im001_1", 2592, 1944, 118.0, 6, 118.0, "own nuclei"]],
        columns=["slide", "width", "height", "estimate_px", "nuclei", "diameter_px", "source"],
    ).to_csv(sizes, sep="\t", index=False)
    inputs = ReportInputs({"allidb1_localisation": localisation_file(tmp_path), "allidb1_cell_sizes": str(sizes)})
    [section] = render_localisation(inputs, ReportContext())
    assert "As published (pooled over slides, white-cell pixels): The heatmap points the wrong way (AUC 0.22)" in (
        section.body
    )
    assert section.body.count("The polarity calibration inverted the map on 1 of 1 slides") == 1  # improved only
    assert "allidb1-cell-sizes" in section.body and "own nuclei" in section.body


def test_real_slides_fall_back_on_the_blast_centres():
    pooled = pd.Series({"pixel_auc": float("nan"), "point_auc": 0.91, "calibrated": False})
    text = method_statement("improved", pooled)
    assert text.startswith("Improved (pooled over slides, .xyc blast centres against background points)")
    assert "localises the white cells (AUC 0.91)" in text
