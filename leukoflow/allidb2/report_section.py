"""The report's ALL-IDB2 sections: Table I per protocol with learning curves, confusion matrix and
ROC per image and per cell; the filter analysis of the network."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from leukoflow.allidb2.paper import OUR_READING, TABLE1
from leukoflow.allidb2.table1 import LEAK_COLUMN
from leukoflow.core.errors import DatasetError
from leukoflow.core.evaluation import pooled_note
from leukoflow.core.io import read_tsv, write_text_atomic
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
    esc,
    figure,
    format_percent,
    html_table,
    page,
    paragraph,
    png_data_uri,
)

PROTOCOL_TITLES = {"leak_free": "Leak-free protocol", "paper": "Paper protocol (LEAKY)"}
CLASSES = DATASETS["allidb2"].classes  # label 0, 1 (the registry, data/datasets.py)
FILTERS_TOP = 5  # filters listed by how much blinding them raises the error


def pooled_predictions(paths: Sequence[str]) -> pd.DataFrame:
    frames = []
    for path in paths:
        frame = read_tsv(path)
        missing = [c for c in ("label", "prob_all", "pred") if c not in frame.columns]
        if missing:
            raise DatasetError(path, f"missing columns {missing}")
        frame["fold_file"] = path
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def allidb2_prediction_figure(predictions: pd.DataFrame, title: str):
    """Confusion matrix of the predictions and ROC per augmented image and per cell (mean over its copies)."""
    curves = {"per image": RocCurve(predictions["label"].to_numpy(), predictions["prob_all"].to_numpy())}
    if "source_id" in predictions.columns:
        # Cells are keyed by fold too: a leaky protocol tests the same cell in several folds.
        per_cell = predictions.groupby(["fold_file", "source_id"]).agg(
            label=("label", "first"), prob=("prob_all", "mean")
        )
        curves["per cell"] = RocCurve(per_cell["label"].to_numpy(), per_cell["prob"].to_numpy())
    return classifier_figure(predictions["label"], predictions["pred"], CLASSES, curves, title)


def table1_block(table: pd.DataFrame, protocol: str, title: str) -> str:
    """Table I of one protocol (rows of `allidb2_table1`'s TSV) with the notes that go with it."""
    pooled = table["fold"].astype(str) == "all"
    leaky = table["leaky"].astype(bool) if "leaky" in table else pd.Series(False, index=table.index)
    css = [" ".join(c for c, on in (("pooled", p), ("leak", k)) if on) for p, k in zip(pooled, leaky)]
    table = table.assign(counts=confusion_cells(table))
    if {"train_bags", "val_bag", "test_bag"} <= set(table.columns):
        bags = table[["train_bags", "val_bag", "test_bag"]].fillna("")
        table["bags"] = (bags["train_bags"] + " | " + bags["val_bag"] + " | " + bags["test_bag"]).where(
            bags["test_bag"] != "", ""
        )
    columns = [
        (c, label)
        for c, label in (
            ("fold", "Fold"),
            ("bags", "Bags: train | val | test"),
            ("n_test", "Test images"),
            ("counts", "TP / TN / FP / FN"),
        )
        if c in table.columns
    ]
    metrics = list(BINARY_METRICS)
    if "source_accuracy" in table.columns:
        metrics.append(("source_accuracy", "Per-cell accuracy"))
    # Leaky rows are shaded red; the count says how many test cells were seen in training.
    trailing = [(c, "Test cells seen in training") for c in (LEAK_COLUMN,) if c in table.columns]
    test_bags = table.loc[~pooled, "test_bag"].tolist() if "test_bag" in table else []
    return metric_table(
        table,
        table_id=f"table1-{protocol}",
        columns=columns,
        metrics=metrics,
        trailing=trailing,
        row_css=css,
        caption=f"Table I, {title}: per fold, then pooled over folds ('all'); "
        "under each value of ours, in grey, the paper's (pooled: its per-fold counts summed over the same folds); "
        "leaky rows shaded red.",
    ) + paragraph(
        "Image-level intervals treat the augmented copies of a cell as independent and are too "
        "narrow; per-cell accuracy scores each test cell once (mean probability over its copies). "
        + pooled_note(test_bags),
        "note",
    )


def write_table1_page(table_path: str, protocol: str, source: dict, html_out: str) -> None:
    """A stand-alone page with one protocol's Table I (for Snakemake's own report)."""
    context = ReportContext(sources={"allidb2": source})
    sections = render_allidb2(ReportInputs({f"table1_{protocol}": table_path}), context)
    write_text_atomic(html_out, page(f"ALL-IDB2 Table I, {PROTOCOL_TITLES.get(protocol, protocol)}", "", sections))


def render_allidb2(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    protocols = list(
        dict.fromkeys(inputs.suffixes("table1_") + inputs.suffixes("curves_") + inputs.suffixes("predictions_"))
    )
    if not protocols:
        return []
    paper = TABLE1
    parts = [context.banner("allidb2")]
    if paper:
        counts = paper.get("per_fold", {})
        parts.append(
            paragraph(
                f"Paper values: {paper.get('source', '?')}; every fold TP {counts.get('tp', '?')}, "
                f"TN {counts.get('tn', '?')}, FP {counts.get('fp', '?')}, FN {counts.get('fn', '?')}.",
                "note",
            )
        )
        parts.append(paragraph(OUR_READING, "note"))
    subsections = []
    tag = synthetic_tag(context, "allidb2")
    for protocol in protocols:
        anchor = f"allidb2-{protocol}"
        name = PROTOCOL_TITLES.get(protocol, protocol)
        body = [f"<h3 id='{esc(anchor)}'>{esc(name)}</h3>"]
        table = None
        if inputs.has(f"table1_{protocol}"):
            required = ["fold", "tp", "tn", "fp", "fn", *(m for m, _ in BINARY_METRICS)]
            table = read_table(inputs.one(f"table1_{protocol}"), required)
        leaked = int(table[LEAK_COLUMN].iloc[:-1].sum()) if table is not None and LEAK_COLUMN in table else 0
        if protocol == "paper" or leaked:
            body.append(
                paragraph(
                    f"LEAKY: {leaked} test cells had rotated/mirrored copies in the training bags. "
                    "These scores do not measure how well the network generalises to new cells.",
                    "warning",
                )
            )
        elif protocol == "leak_free":
            by_slide = table is not None and "grouping" in table and (table["grouping"] == "slide").any()
            body.append(
                paragraph(
                    "Leak-free, grouped by slide: every crop located in one ALL-IDB1 slide (see "
                    "'ALL-IDB2 crops in ALL-IDB1') is in the same bag as the other crops of that slide, with all "
                    "augmented copies; crops found in no slide are grouped by themselves."
                    if by_slide
                    else "Leak-free, grouped by source crop: all augmented copies of a source cell are in one bag "
                    "(which slide a crop comes from is not known to this run).",
                    "note",
                )
            )
        if table is not None:
            body.append(table1_block(table, protocol, f"{name}{tag}"))
        body.append(
            inputs.figure(
                f"curves_{protocol}",
                f"learning curves {protocol}",
                f"Learning curves, {name}: training (solid) and validation (dashed) per fold.",
            )
        )
        if inputs.has(f"predictions_{protocol}"):
            predictions = pooled_predictions(inputs.many(f"predictions_{protocol}"))
            result = allidb2_prediction_figure(predictions, f"ALL-IDB2 {name}{tag}, pooled over folds")
            auc_text = "; ".join(
                f"{curve} AUC " + ("undefined (one class only)" if auc is None else f"{auc:.3f}")
                for curve, auc in result.aucs.items()
            )
            body.append(
                figure(
                    png_data_uri(result.png),
                    f"confusion matrix and ROC {protocol}",
                    f"Test predictions of {len(inputs.many(f'predictions_{protocol}'))} fold(s) pooled "
                    f"({len(predictions)} images): {auc_text}.",
                )
            )
        parts.append("".join(body))
        subsections.append((anchor, name))
    return [Section("allidb2", "ALL-IDB2: Table I", "".join(parts), subsections)]


def render_filters(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not inputs.suffixes("filters_"):
        return []
    # The network and its test patches are ALL-IDB2's: that is the data statement here.
    parts = [
        context.banner("allidb2"),
        paragraph(
            "Ghosh et al. 2017, IV-B and IV-C: each filter of the last convolutional layer blinded in turn "
            "(classification error on held-out ALL-IDB2 test patches), and Jensen-Shannon distances between the "
            "filters' responses to a white image, raw and sorted by hierarchical clustering.",
            "note",
        ),
    ]
    if inputs.has("filters_blinding"):
        blinding = read_table(
            inputs.one("filters_blinding"), ["filter", "error", "baseline_error", "error_increase", "n_patches"]
        )
        hurt = int((blinding["error_increase"] > 0).sum())
        parts.append(
            paragraph(
                f"{len(blinding)} filters, {int(blinding['n_patches'].iloc[0]) if len(blinding) else 0} patches; error with no "
                f"filter blinded {format_percent(blinding['baseline_error'].iloc[0] if len(blinding) else None)}%; "
                f"{hurt} filters raise the error when blinded."
            )
        )
        if len(blinding) and hurt == 0:
            parts.append(
                paragraph(
                    "Blinding changes nothing here: no single filter raises the error, so this network's decision "
                    "does not rest on any one filter of its last layer (the paper found a few that matter most).",
                    "warning",
                )
            )
        # Only filters that matter are listed: a "top 5" of zero increases would suggest an order there is not.
        top = (
            blinding[blinding["error_increase"] > 0]
            .sort_values(["error_increase", "filter"], ascending=[False, True])
            .head(FILTERS_TOP)
        )
        if len(top):
            parts.append(
                html_table(
                    ["Filter", "Error % when blinded", "Increase (points)"],
                    [
                        [int(r.filter), format_percent(r.error), format_percent(r.error_increase)]
                        for r in top.itertuples()
                    ],
                    table_id="filters-top",
                    caption=f"The {len(top)} filters whose blinding raises the error most.",
                )
            )
    figures = (
        ("filters_blinding_png", "filter blinding", "Classification error with each filter blinded."),
        ("filters_js_raw", "JS distances raw", "Jensen-Shannon distance between filter maps, filter order."),
        ("filters_js_sorted", "JS distances sorted", "The same distances, sorted by hierarchical clustering."),
    )
    parts.append("<div class='figrow'>" + "".join(inputs.figure(*spec) for spec in figures) + "</div>")
    return [Section("filters", "Filter analysis (ALL-IDB2 network)", "".join(parts))]


def render_provenance(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    """The measured overlap of ALL-IDB2 with ALL-IDB1 (rule allidb2_provenance)."""
    if not inputs.has("provenance_summary"):
        return []
    summary = read_table(inputs.one("provenance_summary"), ["crops", "matched", "ambiguous", "not_found"]).iloc[0]
    tag = synthetic_tag(context, "allidb2") or synthetic_tag(context, "allidb1")
    parts = [context.banner("allidb2"), context.banner("allidb1")]
    thresholds = (
        f"matched: NCC at least {summary['matched_threshold']:g} and {summary['margin']:g} above the second-best "
        f"slide; not found: below {summary['not_found_threshold']:g}; ambiguous: in between"
        if "matched_threshold" in summary
        else ""
    )
    parts.append(
        paragraph(
            f"Every ALL-IDB2 crop searched in every ALL-IDB1 slide by normalised cross-correlation{tag} "
            f"({thresholds}): {int(summary['matched'])} of {int(summary['crops'])} crops matched, from "
            f"{int(summary.get('slides_with_matches', 0))} of {int(summary.get('slides_searched', 0))} slides; "
            f"{int(summary['ambiguous'])} ambiguous, {int(summary['not_found'])} not found."
        )
    )
    if "planted_from_slides" in summary and not pd.isna(summary["planted_from_slides"]):
        parts.append(
            paragraph(
                f"Planted truth of the synthetic data: {int(summary['planted_recovered'])} of "
                f"{int(summary['planted_from_slides'])} crops cut from a slide found on that slide within "
                f"{int(summary['tolerance_px'])} px; {int(summary['no_slide_not_found'])} of "
                f"{int(summary['planted_no_slide'])} crops from no slide reported not found.",
                "note",
            )
        )
    if inputs.has("provenance_table"):
        table = read_table(inputs.one("provenance_table"), ["crop", "label", "slide", "verdict"])
        counts = pd.crosstab(table["verdict"], table["label"].map({1: "ALL", 0: "healthy"}))
        rows = [
            [verdict, *(int(counts.loc[verdict].get(name, 0)) if verdict in counts.index else 0 for name in CLASSES)]
            for verdict in ("matched", "ambiguous", "not found")
        ]
        parts.append(
            html_table(
                ["Verdict", *(f"{name} crops" for name in CLASSES)],
                rows,
                table_id="provenance-verdicts",
                caption=f"ALL-IDB2 crops by verdict and class{tag}.",
            )
        )
    parts.append(
        paragraph(
            "Consequences: leak-free Table I bags keep the crops of one slide together; on ALL-IDB1, the slides "
            "whose crops trained a model that scores them are the overlap that makes slide-level numbers "
            "optimistic.",
            "note",
        )
    )
    parts.append(
        inputs.figure(
            "provenance_figure",
            "ALL-IDB2 crops beside the slide regions they matched",
            "A few matched crops (top) and the slide region each was found in (bottom, the match outlined).",
        )
    )
    return [Section("allidb2-provenance", "ALL-IDB2 crops in ALL-IDB1", "".join(parts))]


SECTIONS = [
    SectionSpec(("table1_", "curves_", "predictions_"), render_allidb2),
    SectionSpec(("provenance_",), render_provenance),
    SectionSpec(("filters_",), render_filters),
]
