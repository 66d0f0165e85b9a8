"""The report's ALL-IDB1 sections: Table II of both slide methods with slide-level confusion and
ROC, the heatmap's localisation (`report_heatmap`), cell-level detection, slide panels, and the
50x50 CNN baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from leukoflow.allidb1.methods import DEVIATIONS, METHOD_TITLES, PAPER_VALUES, method_settings
from leukoflow.allidb1.paper import TABLE2
from leukoflow.allidb1.report_cnn50 import render_cnn50
from leukoflow.allidb1.report_heatmap import render_localisation
from leukoflow.allidb1.table2 import OVERLAP_NOTE, UNSEEN_SUBSET
from leukoflow.core.errors import DatasetError
from leukoflow.core.io import write_text_atomic
from leukoflow.data.datasets import DATASETS
from leukoflow.report.figures import RocCurve, classifier_figure
from leukoflow.report.framework import (
    BINARY_METRICS,
    ReportContext,
    ReportInputs,
    SectionSpec,
    confusion_cells,
    metric_table,
    read_table,
    synthetic_tag,
)
from leukoflow.report.html import (
    Section,
    downscaled_image_uri,
    esc,
    figure,
    format_percent,
    frame_table,
    html_table,
    page,
    paragraph,
    png_data_uri,
)

CLASSES = DATASETS["allidb1"].classes  # slide label 0, 1 (`_0` / `_1` in the file name)
# Slide panels shown per outcome: a few correct slides for reference, the mistakes in full up to 4.
PANEL_PICKS = {"true positive": 2, "true negative": 2, "false positive": 4, "false negative": 4}
PANEL_WIDTH_PX = 1200  # panels are embedded downscaled to this width at most, as JPEG
PER_SLIDE_HEADERS = {  # allidb1/cells_per_slide.tsv columns -> table headers
    "method": "Method",
    "slide": "Slide",
    "radius_px": "Match radius (px)",
    "blasts": "Blasts (.xyc)",
    "abnormal_patches": "Abnormal patches",
    "tp": "TP",
    "fp": "FP",
    "fn": "FN",
    "white_cells": "White cells (truth)",
    "detections": "Patches",
    "located": "Located",
}


def method_title(method) -> str:
    return METHOD_TITLES.get(str(method), str(method))


def slide_outcomes(verdicts: pd.DataFrame) -> pd.Series:
    """`true positive` ... `false negative` per slide (label vs verdict; 1 = ALL)."""
    label = verdicts["label"].astype(int).to_numpy()
    verdict = verdicts["verdict"].astype(int).to_numpy()
    names = np.select(
        [(label == 1) & (verdict == 1), (label == 0) & (verdict == 0), (label == 0) & (verdict == 1)],
        ["true positive", "true negative", "false positive"],
        default="false negative",
    )
    return pd.Series(names, index=verdicts.index, name="outcome")


def read_verdicts(path: str) -> pd.DataFrame:
    """Rule allidb1_table2's per-slide table (a row per method and slide); only slides with status
    `scored` count anywhere. Files without a `method` column read as one unnamed method ("")."""
    verdicts = read_table(path, ["slide", "label", "status", "n_patches", "n_abnormal", "max_prob", "verdict"])
    scored = verdicts[verdicts["status"] == "scored"].copy()
    if scored["label"].isna().any():
        raise DatasetError(path, "a scored slide has no label")
    if "method" not in scored:
        scored["method"] = ""
    scored["outcome"] = slide_outcomes(scored)
    overlaps = scored["overlaps_training"] if "overlaps_training" in scored else pd.Series(False, index=scored.index)
    scored["overlaps_training"] = overlaps.astype(str).str.lower().eq("true")
    return scored


def select_panel_slides(
    verdicts: pd.DataFrame, available: Sequence[str], picks: Mapping[str, int] = PANEL_PICKS
) -> pd.DataFrame:
    """Up to `picks[outcome]` slides per outcome among those with a panel, by the outcome under the
    last method (the improved one when both run), most confident verdict first (highest max
    P(ALL) for an ALL verdict, lowest for a healthy one), ties by slide id: deterministic, and it
    shows the clearest hits and the most confident mistakes. One row per slide."""
    last = verdicts["method"].iloc[-1] if len(verdicts) else None
    shown = verdicts[(verdicts["method"] == last) & verdicts["slide"].isin(list(available))].assign(
        confidence=lambda t: np.where(t["verdict"].astype(int) == 1, t["max_prob"], -t["max_prob"])
    )
    chosen = [
        shown[shown["outcome"] == outcome].sort_values(["confidence", "slide"], ascending=[False, True]).head(n)
        for outcome, n in picks.items()
    ]
    return pd.concat(chosen).drop(columns="confidence") if chosen else shown.iloc[:0]


def panel_caption(slide: str, verdicts: pd.DataFrame) -> str:
    """Label, then each method's verdict, outcome and patch counts for one slide."""
    rows = verdicts[verdicts["slide"] == slide]
    if rows.empty:
        return f"{slide}."
    first = rows.iloc[0]
    overlap = "; overlaps the ALL-IDB2 training crops" if first["overlaps_training"] else ""
    parts = [
        (f"{method_title(r['method'])}: verdict" if r["method"] else "Verdict")
        + f" {CLASSES[int(r['verdict'])]} ({r['outcome']}), {int(r['n_patches'])} patches, "
        f"{int(r['n_abnormal'])} abnormal, max P(ALL) {float(r['max_prob']):.3f}"
        for _, r in rows.iterrows()
    ]
    return f"{slide}: label {CLASSES[int(first['label'])]}{overlap}. " + "; ".join(parts) + "."


def network_statement(context: ReportContext) -> str:
    """Slides are read by the ALL-IDB2 network: its training data is part of every slide result."""
    if "allidb2" not in context.sources:
        return ""
    return paragraph("The patch classifier is the ALL-IDB2 network; its training data:", "note") + context.banner(
        "allidb2"
    )


def slide_settings(context: ReportContext) -> dict:
    config = context.provenance.config if context.provenance is not None else {}
    return config.get("allidb1", {}).get("slides", {})


def deviations_block(context: ReportContext) -> str:
    """One line per deviation of the improved method from the paper, with its value in this run."""
    settings = slide_settings(context)
    improved = method_settings(settings, "improved") if settings else {}
    rows = [
        [key, "" if not improved else str(improved[key]), str(PAPER_VALUES[key]), text]
        for key, text in DEVIATIONS.items()
        if not improved or improved[key] != PAPER_VALUES[key]
    ]
    return html_table(
        ["Switch (allidb1.slides.improved)", "Improved", "Paper", "What it changes"],
        rows,
        table_id="allidb1-deviations",
        caption="How the improved method departs from the paper's, one line per deviation; the as-published "
        "method runs with every switch at the paper's value.",
    )


def overlap_paragraph(verdicts: pd.DataFrame, context: ReportContext) -> str:
    """What is known of the slides' overlap with the ALL-IDB2 training crops: measured (provenance
    stage) when the verdicts carry it, otherwise the slides listed in the config, with a warning."""
    if "unseen" in verdicts:
        lines = []
        for method, group in verdicts.drop_duplicates(["method", "slide"]).groupby("method", sort=False):
            unseen = group["unseen"].astype(str).str.lower().eq("true")
            lines.append(f"{method_title(method)}: {int(unseen.sum())} of {len(group)} slides unseen")
        return paragraph(
            "Measured overlap (section ALL-IDB2 crops in ALL-IDB1): a slide counts as seen when a crop matched "
            "to it lies in the training or validation bags of any model the method used (scoring or heatmap). "
            f"The Table II row '{UNSEEN_SUBSET}' holds the others. " + "; ".join(lines) + ".",
            "note",
        )
    overlapping = int(verdicts.drop_duplicates("slide")["overlaps_training"].sum())
    if overlapping or context.sources.get("allidb1", {}).get("source") == "real":
        return paragraph(
            f"{OVERLAP_NOTE} Slides marked as overlapping: {overlapping}. Enable allidb2.provenance to measure it.",
            "warning",
        )
    return ""


def render_table2(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not (inputs.has("table2") or inputs.has("slide_verdicts")):
        return []
    tag = synthetic_tag(context, "allidb1")
    parts = [context.banner("allidb1"), network_statement(context)]
    subsections = []
    if inputs.has("table2"):
        required = [
            "subset",
            "n_slides",
            "tp",
            "tn",
            "fp",
            "fn",
            *(f"{m}{s}" for m, _ in BINARY_METRICS for s in ("", "_ci_low", "_ci_high")),
        ]
        table = read_table(inputs.one("table2"), required)
        if "method" not in table:
            table["method"] = "improved"
        table["method_title"] = table["method"].map(method_title)
        values = TABLE2["values"]
        subsections.append(("allidb1-table2", "Table II"))
        parts.append("<h3 id='allidb1-table2'>Table II</h3>")
        parts.append(
            paragraph(
                f"Paper values: {TABLE2['source']}; TP {values['tp']}, TN {values['tn']}, FP {values['fp']}, "
                f"FN {values['fn']}.",
                "note",
            )
        )
        parts.append(
            metric_table(
                table.assign(counts=confusion_cells(table)),
                table_id="table2",
                columns=[
                    ("method_title", "Method"),
                    ("subset", "Subset"),
                    ("n_slides", "Slides"),
                    ("counts", "TP / TN / FP / FN"),
                ],
                metrics=BINARY_METRICS,
                caption=f"Table II{tag}: slide called ALL when it holds at least k abnormal patches, by the method "
                "as published and by the improved method; under each value of ours, in grey, the paper's.",
            )
        )
        parts.append(deviations_block(context))
    if inputs.has("slide_verdicts"):
        verdicts = read_verdicts(inputs.one("slide_verdicts"))
        parts.append(overlap_paragraph(verdicts, context))
        subsections.append(("allidb1-slides-roc", "Slide-level confusion matrix and ROC"))
        parts.append("<h3 id='allidb1-slides-roc'>Slide-level confusion matrix and ROC</h3>")
        for method, group in verdicts.groupby("method", sort=False):
            result = classifier_figure(
                group["label"].astype(int),
                group["verdict"].astype(int),
                CLASSES,
                {
                    "slides, score max patch P(ALL)": RocCurve(
                        group["label"].astype(int).to_numpy(), group["max_prob"].to_numpy(float)
                    )
                },
                f"ALL-IDB1 slides{tag}, {method_title(method)}: label vs verdict",
            )
            auc = next(iter(result.aucs.values()))
            parts.append(
                figure(
                    png_data_uri(result.png),
                    f"slide-level confusion matrix and ROC {method}",
                    f"{method_title(method)}, {len(group)} scored slides: verdict against label; ROC of the slide "
                    "score max P(ALL) over its patches (a slide without patches scores 0): AUC "
                    + ("undefined (one class only)" if auc is None else f"{auc:.3f}")
                    + ".",
                )
            )
        wrong = verdicts[verdicts["outcome"].str.startswith("false")].sort_values(["method", "outcome", "slide"])
        named = (verdicts["method"] != "").any()  # files of one unnamed method have no Method column
        if len(wrong):
            rows = [
                [
                    *([method_title(r.method)] if named else []),
                    r.slide,
                    r.outcome,
                    int(r.n_patches),
                    int(r.n_abnormal),
                    f"{r.max_prob:.3f}",
                    "yes" if r.overlaps_training else "no",
                ]
                for r in wrong.itertuples()
            ]
            parts.append(
                html_table(
                    [*(["Method"] if named else []), "Slide", "Outcome", "Patches", "Abnormal patches", "Max P(ALL)"]
                    + ["Overlaps training"],
                    rows,
                    table_id="allidb1-wrong",
                    caption="Misclassified slides (panels below).",
                )
            )
    return [Section("allidb1", "ALL-IDB1: Table II (slide level)", "".join(parts), subsections)]


def render_cells(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not (inputs.has("cells") or inputs.has("cells_per_slide")):
        return []
    tag = synthetic_tag(context, "allidb1")
    parts = [
        context.banner("allidb1"),
        paragraph(
            "Not reported by the paper. Blast detection: abnormal patch centres matched one-to-one to the "
            ".xyc blast centroids within a radius in white-cell diameters of the slide (see the cell sizes under "
            "the heatmap section). White-cell localisation (synthetic data only, where the generator knows every "
            "white cell): any patch centre matched to any white cell.",
            "note",
        ),
    ]
    if inputs.has("cells"):
        cells = read_table(inputs.one("cells"), ["level", "tp", "fp", "fn", "precision", "recall", "f1"])
        named = [("method_title", "Method")] if "method" in cells else []
        if named:
            cells["method_title"] = cells["method"].map(method_title)
        # F1 has no interval in allidb1_cells.tsv (no closed form like Wilson's): shown without one.
        cells["f1_text"] = cells["f1"].map(format_percent)
        parts.append(
            metric_table(
                cells,
                table_id="allidb1-cells",
                columns=[*named, ("level", "Level"), ("tp", "TP"), ("fp", "FP"), ("fn", "FN")],
                metrics=(("precision", "Precision"), ("recall", "Recall")),
                trailing=[("f1_text", "F1 %")],
                caption=f"Cell-level detection{tag}, pooled over scored slides (Wilson 95% intervals).",
            )
        )
    if inputs.has("cells_per_slide"):
        per_slide = read_table(inputs.one("cells_per_slide"), ["slide", "tp", "fp", "fn"])
        if "radius_px" in per_slide:
            per_slide["radius_px"] = per_slide["radius_px"].map("{:.1f}".format)
        if "method" in per_slide:
            per_slide["method"] = per_slide["method"].map(method_title)
        per_slide = per_slide.rename(columns=PER_SLIDE_HEADERS)
        parts.append(
            frame_table(
                per_slide,
                table_id="allidb1-cells-per-slide",
                caption=f"Per slide{tag}: blasts (.xyc), abnormal patches and their matches.",
            )
        )
    return [Section("allidb1-cells", "ALL-IDB1: cell-level detection", "".join(parts))]


def render_panels(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    panels = {slide: inputs.one(f"panel_{slide}") for slide in inputs.suffixes("panel_")}
    if not panels:
        return []
    parts = [context.banner("allidb1")]
    subsections = []
    if inputs.has("slide_verdicts"):
        verdicts = read_verdicts(inputs.one("slide_verdicts"))
        chosen = select_panel_slides(verdicts, list(panels))
        by = method_title(verdicts["method"].iloc[-1]) if len(verdicts) else ""
        parts.append(
            paragraph(
                f"{len(chosen)} of {len(panels)} slide panels, one row per method: up to "
                + ", ".join(f"{n} {outcome}s" for outcome, n in PANEL_PICKS.items())
                + (f" of the {by} method" if by else "")
                + ", most confident verdict first. Red boxes: abnormal patches; green: normal; "
                "yellow crosses: .xyc blasts (synthetic data).",
                "note",
            )
        )
        for outcome in PANEL_PICKS:
            group = chosen[chosen["outcome"] == outcome]
            if group.empty:
                continue
            anchor = "panels-" + outcome.replace(" ", "-")
            subsections.append((anchor, f"{outcome.capitalize()}s"))
            parts.append(f"<h3 id='{esc(anchor)}'>{esc(outcome.capitalize())}s ({len(group)})</h3>")
            parts += [
                figure(
                    downscaled_image_uri(panels[slide], PANEL_WIDTH_PX),
                    f"panel {slide}",
                    panel_caption(slide, verdicts),
                )
                for slide in group["slide"]
            ]
    else:  # no verdicts to choose by: the first slides by id, captioned with the id only
        shown = sorted(panels)[: sum(PANEL_PICKS.values())]
        parts.append(paragraph(f"{len(shown)} of {len(panels)} slide panels (no slide verdicts given).", "note"))
        parts += [figure(downscaled_image_uri(panels[s], PANEL_WIDTH_PX), f"panel {s}", f"{s}.") for s in shown]
    return [Section("allidb1-panels", "ALL-IDB1: slide panels", "".join(parts), subsections)]


SECTIONS = [
    SectionSpec(("table2", "slide_verdicts"), render_table2),
    SectionSpec(("allidb1_localisation", "allidb1_cell_sizes"), render_localisation),
    SectionSpec(("cells", "cells_per_slide"), render_cells),
    SectionSpec(("panel_", "slide_verdicts"), render_panels),
    SectionSpec(("cnn50", "cnn50_predictions"), render_cnn50),
]


def write_table2_page(inputs: dict, source: dict, html_out: str) -> None:
    """A stand-alone page with Table II and the cell-level tables (for Snakemake's own report);
    `inputs` are report keys (table2, slide_verdicts, cells, cells_per_slide) -> paths."""
    context = ReportContext(sources={"allidb1": source})
    report_inputs = ReportInputs(inputs)
    sections = (
        render_table2(report_inputs, context)
        + render_localisation(report_inputs, context)
        + render_cells(report_inputs, context)
    )
    write_text_atomic(html_out, page("ALL-IDB1 Table II", "", sections))
