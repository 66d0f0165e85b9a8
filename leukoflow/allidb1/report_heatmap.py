"""The report's answer to "does the heatmap mark the white cells?": per slide method, a plain
sentence from the pooled measures (`localisation.verdict`), how often the improved method's
polarity calibration inverted the map, the per-slide measures, and each slide's white-cell
diameter (the unit of the improved method's sizes)."""

from __future__ import annotations

import math

import pandas as pd

from leukoflow.allidb1.localisation import verdict
from leukoflow.allidb1.methods import METHOD_TITLES
from leukoflow.report.framework import ReportContext, ReportInputs, read_table, synthetic_tag
from leukoflow.report.html import Section, frame_table, paragraph

MEASURE_HEADERS = {
    "method": "Method",
    "slide": "Slide",
    "polarity": "Heatmap",
    "pixel_auc": "White-cell pixels AUC",
    "pixel_auc_in_eosin": "AUC within eosin mask",
    "point_auc": ".xyc blasts vs background AUC",
    "eosin_auc": "Eosin-positive vs rest AUC",
    "white_cell_share_of_eosin": "White-cell share of eosin mask",
    "heat_in_eosin": "Mean heat in eosin mask",
    "heat_outside_eosin": "Mean heat outside",
}
CELL_SIZE_HEADERS = {
    "slide": "Slide",
    "width": "Width",
    "height": "Height",
    "red_cell_px": "Red-cell diameter (px)",
    "red_cells": "Red cells measured",
    "nucleus_to_red": "White-cell nucleus / red cell",
    "estimate_px": "Own estimate (px)",
    "diameter_px": "White-cell diameter used (px)",
    "source": "Source",
}


def _value(row: pd.Series, key: str) -> float:
    value = row.get(key, float("nan"))
    return float("nan") if pd.isna(value) else float(value)


def method_statement(method: str, pooled: pd.Series) -> str:
    """The verdict sentence of one method, from its pooled row (pixel AUC where the generator's
    truth exists, else the .xyc point AUC), and how often the polarity calibration inverted the map."""
    auc = _value(pooled, "pixel_auc")
    basis = "white-cell pixels"
    if math.isnan(auc):
        auc, basis = _value(pooled, "point_auc"), ".xyc blast centres against background points"
    text = f"{METHOD_TITLES.get(method, method)} (pooled over slides, {basis}): " + verdict(
        auc, _value(pooled, "pixel_auc_in_eosin"), _value(pooled, "white_cell_share_of_eosin")
    )
    inverted = _value(pooled, "inverted_slides")
    if str(pooled.get("calibrated", "")).lower() == "true" and not math.isnan(inverted):
        text += (
            f" The polarity calibration inverted the map on {int(inverted)} of {int(_value(pooled, 'slides'))} slides "
            "(where it was lower on the eosin-positive pixels than elsewhere); the AUCs are those of the map it used."
        )
    return text


def render_localisation(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not (inputs.has("allidb1_localisation") or inputs.has("allidb1_cell_sizes")):
        return []
    tag = synthetic_tag(context, "allidb1")
    parts = [
        context.banner("allidb1"),
        paragraph(
            "The paper's premise is that the network's filters excite most on white cells, so thresholding the mean "
            "excitation finds them. Each number is an AUC of the slide's heatmap: the chance that a white-cell "
            "location scores higher than another location (0.5: chance; below 0.5: the map points the wrong way). "
            "White-cell pixels: synthetic slides only (the generator knows every cell). Within the eosin mask: "
            "whether the heatmap adds anything to the eosin threshold that the method combines it with.",
            "note",
        ),
    ]
    if inputs.has("allidb1_localisation"):
        table = read_table(inputs.one("allidb1_localisation"), ["slide", "pixel_auc", "point_auc", "eosin_auc"])
        if "method" not in table:
            table["method"] = "improved"
        pooled = table[table["slide"] == "pooled"]
        parts += [paragraph(method_statement(r["method"], r)) for _, r in pooled.iterrows()]
        shown = table[[c for c in MEASURE_HEADERS if c in table.columns]].copy()
        shown["method"] = shown["method"].map(lambda m: METHOD_TITLES.get(m, m))
        for column in shown.columns[2:]:
            if column == "polarity":
                shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else ("inverted" if v < 0 else "kept"))
            else:
                shown[column] = shown[column].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}")
        parts.append(
            frame_table(
                shown.rename(columns=MEASURE_HEADERS),
                table_id="allidb1-localisation",
                caption=f"Heatmap localisation per slide and pooled{tag} (pooled AUCs from the summed histograms "
                "of every slide's values).",
            )
        )
    if inputs.has("allidb1_cell_sizes"):
        sizes = pd.concat([read_table(p, ["slide", "diameter_px"]) for p in inputs.many("allidb1_cell_sizes")])
        parts.append(
            frame_table(
                sizes[[c for c in CELL_SIZE_HEADERS if c in sizes.columns]].rename(columns=CELL_SIZE_HEADERS),
                table_id="allidb1-cell-sizes",
                caption=f"Typical white-cell diameter per slide{tag}: the unit of the improved method's sizes, of "
                "its working scale, and of the cell-level match radius (estimated from the slide's nuclei unless "
                "set in the config).",
            )
        )
    return [Section("allidb1-heatmap", "ALL-IDB1: does the heatmap find the white cells?", "".join(parts))]
