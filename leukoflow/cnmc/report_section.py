"""The report's C-NMC section: Liu & Long's Table 1 (ensemble beside the paper, then every model
alone), per-subject accuracy, confusion matrix and ROC, learning curves, and the contact sheet
of cells before and after the convex-hull crop.

One block per method (as published, ours: `cnmc.methods`), each with its deviations from the
paper, and a side-by-side table of the methods' weighted F1 first.

Input keys (all optional), each suffixed by the method (`cnmc_table_ours`, ...): cnmc_table,
cnmc_subjects, cnmc_split, cnmc_predictions, cnmc_curves, cnmc_crop_sheet, cnmc_unlabelled; and
cnmc_protocols (one method under the split by subject and the split by cell).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from leukoflow.cnmc.methods import DEVIATIONS
from leukoflow.cnmc.paper import FINAL_TEST, SUBJECT_COUNTS, TABLE1
from leukoflow.cnmc.protocols import inflation
from leukoflow.cnmc.subsets import scored_rows
from leukoflow.core.errors import DatasetError
from leukoflow.core.io import read_tsv, write_text_atomic
from leukoflow.core.methods import METHOD_TITLES, METHODS
from leukoflow.data.datasets import DATASETS
from leukoflow.report.figures import RocCurve, classifier_figure
from leukoflow.report.framework import (
    ReportContext,
    ReportInputs,
    SectionSpec,
    deviation_block,
    metric_table,
    plain_value,
    read_table,
    synthetic_tag,
)
from leukoflow.report.html import (
    Section,
    figure,
    format_percent,
    html_table,
    page,
    paragraph,
    png_data_uri,
)

CLASS_NAMES = DATASETS["cnmc"].classes  # ("HEM", "ALL")
METRICS = (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"))
MODEL_TITLES = {"ensemble": "ensemble", "A": "model-A", "B": "model-B", "combined": "combined"}
TABLE_COLUMNS = ["model", "class", "support", *(m for m, _ in METRICS)]
KEYS = ("table", "subjects", "split", "predictions", "curves", "crop_sheet", "unlabelled")


def read_split(inputs: ReportInputs, method: str) -> dict:
    if not inputs.has(f"cnmc_split_{method}"):
        return {}
    path = inputs.one(f"cnmc_split_{method}")
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(path, f"not a readable split summary ({exc})") from exc


def evaluation_notes(table: pd.DataFrame | None, split: dict) -> list[str]:
    """What was evaluated, whether it leaks, and how the paper's counts differ from the data's."""
    parts = []
    evaluation = split.get("evaluation_text") or (table["evaluation"].iloc[0] if table is not None else "")
    if evaluation:
        cells = split.get("cells", {}).get("test", {})
        counts = (
            f": {sum(cells.values())} cells, {cells.get('ALL', 0)} ALL and {cells.get('HEM', 0)} HEM" if cells else ""
        )
        subjects = split.get("subjects", {})
        val = float(split.get("val_fraction", 0.3))
        ratio = f"{round(10 * (1 - val), 1):g}:{round(10 * val, 1):g}"
        parts.append(
            paragraph(
                f"Evaluated on {evaluation}{counts}. Training and validation: a {ratio} split of the training "
                f"folds by {'subject' if split.get('protocol') == 'subject' else 'cell'} "
                f"({subjects.get('train', '?')} / {subjects.get('val', '?')} subjects).",
                "note",
            )
        )
    leaky = bool(split.get("leaky")) or (table is not None and bool(table["leaky"].astype(bool).any()))
    if leaky:
        shared = split.get("shared_subjects", {})
        parts.append(
            paragraph(
                "LEAKY: cells were split at random (protocol cell), so subjects sit on both sides "
                f"(subjects shared train/val {shared.get('train_val', '?')}, train/test {shared.get('train_test', '?')}). "
                "Scores do not measure generalisation to new patients.",
                "warning",
            )
        )
    return parts


def paper_note() -> str:
    return paragraph(
        f"Paper values: {TABLE1['source']}, {TABLE1['evaluation']}; {FINAL_TEST['note']}. Beside them, from other "
        f"sources: {FINAL_TEST['cells_note']}; {FINAL_TEST['winner_note']}. {SUBJECT_COUNTS['note']}",
        "note",
    )


def methods_block(tables: dict[str, pd.DataFrame], tag: str) -> str:
    """Weighted precision, recall and F1 of every model under each method, side by side."""
    header = ["Model", *(f"{METHOD_TITLES[m]}: weighted {t}" for m in tables for _, t in METRICS)]
    rows = []
    for name in MODEL_TITLES.values():
        row = [name]
        for table in tables.values():
            weighted = table[(table["model"] == name) & (table["class"] == "weighted avg")]
            row += [f"{float(weighted[m].iloc[0]):.3f}" if len(weighted) else "" for m, _ in METRICS]
        rows.append(row)
    return html_table(
        header,
        rows,
        table_id="cnmc-methods",
        caption=f"The methods side by side{tag}: weighted averages over HEM and ALL of each model.",
    )


SPLIT_TITLES = {"subject": "by subject (leak-free)", "cell": "by cell (LEAKY)"}
SCORED_TITLES = {
    "prelim_test": "new subjects (preliminary test set)",
    "held_out_subjects": "new subjects (held-out training subjects)",
    "held_out_cells": "held-out cells of its training subjects",
}
PROTOCOL_COLUMNS = ["protocol", "scored_on", "model", "n_cells", "n_subjects", "subjects_seen_in_training"]


def protocols_block(table: pd.DataFrame, tag: str) -> str:
    """The ensemble of one method under both splits, and the leak's inflation in words."""
    ensemble = table[table["model"] == "ensemble"].assign(
        split=lambda t: t["protocol"].map(SPLIT_TITLES).fillna(t["protocol"]),
        scored=lambda t: t["scored_on"].map(SCORED_TITLES).fillna(t["scored_on"]),
        seen=lambda t: [
            f"{int(s)} of {int(n)}" for s, n in zip(t["subjects_seen_in_training"], t["n_subjects"], strict=True)
        ],
    )
    method = METHOD_TITLES.get(str(table["method"].iloc[0]), str(table["method"].iloc[0])) if len(table) else ""
    html = metric_table(
        ensemble,
        table_id="cnmc-protocols",
        columns=[
            ("split", "Split"),
            ("scored", "Scored on"),
            ("n_cells", "Cells"),
            ("seen", "Subjects seen in training"),
        ],
        metrics=(("weighted_f1", "Weighted F1"), ("auc", "AUC of P(ALL)")),
        row_css=["leak" if leaky else "" for leaky in ensemble["leaky"].astype(bool)],
        caption=f"{method} trained on a split by subject and on a split by cell, its ensemble scored{tag} "
        "(95% CIs from a bootstrap over subjects; every model's rows in cnmc_protocols.tsv).",
    )
    gap = inflation(table)
    if not math.isnan(gap["weighted_f1"]):  # the cell split was scored on both sets
        html += paragraph(
            f"The split by cell scores its held-out cells {100 * gap['weighted_f1']:+.1f} points of weighted F1 and "
            f"{100 * gap['auc']:+.1f} of AUC above what the same models score on subjects they never saw: the "
            "difference is what a cell-random evaluation would claim and not deliver on new patients.",
            "note",
        )
    return html


def table_blocks(table: pd.DataFrame, tag: str, method: str) -> str:
    """The ensemble beside the paper (Table 1's layout), then every model alone."""
    ensemble = table[table["model"] == "ensemble"]
    html = metric_table(
        ensemble,
        table_id=f"cnmc-table1-{method}",
        columns=[("class", "Class"), ("support", "Support")],
        metrics=METRICS,
        row_css=["pooled" if c == "weighted avg" else "" for c in ensemble["class"]],
        caption=f"Table 1, {METHOD_TITLES[method].lower()} (ensemble: the most confident of model-A, model-B "
        f"and the combined model){tag}; "
        "95% CIs from a bootstrap over subjects; under each value, in grey, the paper's.",
    )
    models = table.drop(columns=[c for c in table.columns if c.startswith("paper_")])
    html += metric_table(
        models,
        table_id=f"cnmc-models-{method}",
        columns=[("model", "Model"), ("class", "Class"), ("support", "Support")],
        metrics=METRICS,
        row_css=["pooled" if c == "weighted avg" else "" for c in models["class"]],
        caption=f"Each model alone and the ensemble{tag}: the ensemble's gain over its members.",
    )
    return html


def subject_block(subjects: pd.DataFrame, tag: str, method: str) -> str:
    header = ["Subject", "Class", "Cells", *(f"{t} accuracy %" for t in MODEL_TITLES.values()), "Ensemble: ALL calls %"]
    rows = [
        [
            plain_value(r["subject"]),
            r["class_name"],
            int(r["n_cells"]),
            *(format_percent(r[f"accuracy_{m}"], 1) for m in MODEL_TITLES),
            format_percent(r["called_all_ensemble"], 1),
        ]
        for _, r in subjects.iterrows()
    ]
    return html_table(
        header,
        rows,
        table_id=f"cnmc-subjects-{method}",
        caption=f"Accuracy per evaluation subject, {METHOD_TITLES[method].lower()}{tag}.",
    )


def prediction_figure(path: str, tag: str, method: str) -> str:
    predictions = scored_rows(read_tsv(path), "test", path)
    missing = [c for c in ("label", "pred_ensemble", *(f"prob_all_{m}" for m in MODEL_TITLES)) if c not in predictions]
    if missing:
        raise DatasetError(path, f"missing columns {missing}")
    labels = predictions["label"].to_numpy()
    curves = {title: RocCurve(labels, predictions[f"prob_all_{m}"].to_numpy()) for m, title in MODEL_TITLES.items()}
    title = f"C-NMC ensemble, {METHOD_TITLES[method].lower()}{tag}"
    result = classifier_figure(labels, predictions["pred_ensemble"], CLASS_NAMES, curves, title)
    aucs = "; ".join(f"{n} AUC " + ("undefined" if a is None else f"{a:.3f}") for n, a in result.aucs.items())
    chosen = predictions["chosen_model"].value_counts() if "chosen_model" in predictions else pd.Series(dtype=int)
    choice = ", ".join(f"{MODEL_TITLES.get(m, m)} {n}" for m, n in chosen.items())
    return figure(
        png_data_uri(result.png),
        "C-NMC confusion matrix and ROC",
        f"Confusion matrix of the ensemble and ROC of each model's P(ALL) on {len(predictions)} cells: {aucs}. "
        f"The ensemble took each cell's label from: {choice}.",
    )


def methods_in(inputs: ReportInputs) -> list[str]:
    return [m for m in METHODS if any(inputs.has(f"cnmc_{key}_{m}") for key in KEYS)]


def method_block(inputs: ReportInputs, method: str, tag: str) -> tuple[str, pd.DataFrame | None]:
    """One method's deviations, evaluation, tables and figures."""

    def key(name: str) -> str:
        return f"cnmc_{name}_{method}"

    table = read_table(inputs.one(key("table")), TABLE_COLUMNS) if inputs.has(key("table")) else None
    parts = [f"<h3 id='cnmc-{method}'>{METHOD_TITLES[method]}</h3>"]
    if table is not None:
        parts.append(deviation_block(table, method, DEVIATIONS, "cnmc.ours"))
    parts += evaluation_notes(table, read_split(inputs, method))
    if table is not None:
        parts.append(table_blocks(table, tag, method))
    if inputs.has(key("subjects")):
        parts.append(subject_block(read_table(inputs.one(key("subjects")), ["subject", "n_cells"]), tag, method))
    title = METHOD_TITLES[method].lower()
    figures = []
    if inputs.has(key("predictions")):
        figures.append(prediction_figure(inputs.one(key("predictions")), tag, method))
    figures.append(
        inputs.figure(
            key("curves"),
            f"C-NMC learning curves, {title}",
            f"Learning curves ({title}) of model-A, model-B (stage 1) and the combined model (stage 2, class-weighted "
            "loss): training solid, validation dashed.",
        )
    )
    figures.append(
        inputs.figure(
            key("crop_sheet"),
            f"C-NMC crops, {title}",
            f"Cells before (top, with the crop box) and after (bottom) the convex-hull crop ({title}).",
        )
    )
    parts += [f for f in figures if f]
    if inputs.has(key("unlabelled")):
        unlabelled = pd.read_csv(inputs.one(key("unlabelled")), sep="\t")
        parts.append(
            paragraph(
                f"{len(unlabelled)} unlabelled final-phase images predicted, never scored: "
                f"{Path(inputs.one(key('unlabelled'))).name} (one row per image).",
                "note",
            )
        )
    return "".join(parts), table


def render_cnmc(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    methods = methods_in(inputs)
    if not methods:
        return []
    tag = synthetic_tag(context, "cnmc")
    blocks = {method: method_block(inputs, method, tag) for method in methods}
    tables = {method: table for method, (_, table) in blocks.items() if table is not None}
    parts = [context.banner("cnmc"), paper_note()]
    subsections = []
    if tables:
        parts.append("<h3 id='cnmc-side-by-side'>Methods side by side</h3>" + methods_block(tables, tag))
        subsections.append(("cnmc-side-by-side", "Methods side by side"))
    if inputs.has("cnmc_protocols"):
        protocols = read_table(
            inputs.one("cnmc_protocols"), [*PROTOCOL_COLUMNS, "weighted_f1", "auc", "leaky", "method"]
        )
        parts.append(
            "<h3 id='cnmc-splits'>Split by subject against split by cell</h3>" + protocols_block(protocols, tag)
        )
        subsections.append(("cnmc-splits", "Split by subject against split by cell"))
    for method, (html, _) in blocks.items():
        parts.append(html)
        subsections.append((f"cnmc-{method}", METHOD_TITLES[method]))
    return [Section("cnmc", "C-NMC 2019: Liu & Long Table 1", "".join(parts), subsections)]


def write_table_page(
    table_path: str, subjects_path: str, split_path: str, source: dict, html_out: str, method: str
) -> None:
    """A stand-alone page with one method's table and per-subject accuracy (for Snakemake's own report)."""
    inputs = ReportInputs(
        {
            f"cnmc_table_{method}": table_path,
            f"cnmc_subjects_{method}": subjects_path,
            f"cnmc_split_{method}": split_path,
        }
    )
    sections = render_cnmc(inputs, ReportContext(sources={"cnmc": source}))
    write_text_atomic(html_out, page(f"C-NMC 2019: Liu & Long Table 1, {METHOD_TITLES[method].lower()}", "", sections))


SECTIONS = [SectionSpec(("cnmc_",), render_cnmc)]
