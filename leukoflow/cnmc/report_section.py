"""The report's C-NMC section: Liu & Long's Table 1 (ensemble beside the paper, then every model
alone), per-subject accuracy, confusion matrix and ROC, learning curves, and the contact sheet
of cells before and after the convex-hull crop.

Input keys (all optional): cnmc_table, cnmc_subjects, cnmc_split, cnmc_predictions,
cnmc_curves, cnmc_crop_sheet, cnmc_unlabelled.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from leukoflow.cnmc.paper import FINAL_TEST, SUBJECT_COUNTS, TABLE1
from leukoflow.core.errors import DatasetError
from leukoflow.core.io import read_tsv, write_text_atomic
from leukoflow.data.datasets import DATASETS
from leukoflow.report.figures import RocCurve, classifier_figure
from leukoflow.report.framework import (
    ReportContext,
    ReportInputs,
    SectionSpec,
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


def read_split(inputs: ReportInputs) -> dict:
    if not inputs.has("cnmc_split"):
        return {}
    path = inputs.one("cnmc_split")
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
    parts.append(
        paragraph(
            f"Paper values: {TABLE1['source']}, {TABLE1['evaluation']}; {FINAL_TEST['note']}; "
            f"{FINAL_TEST['winner_note']}. {SUBJECT_COUNTS['note']}",
            "note",
        )
    )
    return parts


def table_blocks(table: pd.DataFrame, tag: str) -> str:
    """The ensemble beside the paper (Table 1's layout), then every model alone."""
    ensemble = table[table["model"] == "ensemble"]
    html = metric_table(
        ensemble,
        table_id="cnmc-table1",
        columns=[("class", "Class"), ("support", "Support")],
        metrics=METRICS,
        row_css=["pooled" if c == "weighted avg" else "" for c in ensemble["class"]],
        caption=f"Table 1 (ensemble: the most confident of model-A, model-B and the combined model){tag}; "
        "95% CIs from a bootstrap over subjects; under each value, in grey, the paper's.",
    )
    models = table.drop(columns=[c for c in table.columns if c.startswith("paper_")])
    html += metric_table(
        models,
        table_id="cnmc-models",
        columns=[("model", "Model"), ("class", "Class"), ("support", "Support")],
        metrics=METRICS,
        row_css=["pooled" if c == "weighted avg" else "" for c in models["class"]],
        caption=f"Each model alone and the ensemble{tag}: the ensemble's gain over its members.",
    )
    return html


def subject_block(subjects: pd.DataFrame, tag: str) -> str:
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
    return html_table(header, rows, table_id="cnmc-subjects", caption=f"Accuracy per evaluation subject{tag}.")


def prediction_figure(path: str, tag: str) -> str:
    predictions = read_tsv(path)
    missing = [c for c in ("label", "pred_ensemble", *(f"prob_all_{m}" for m in MODEL_TITLES)) if c not in predictions]
    if missing:
        raise DatasetError(path, f"missing columns {missing}")
    labels = predictions["label"].to_numpy()
    curves = {title: RocCurve(labels, predictions[f"prob_all_{m}"].to_numpy()) for m, title in MODEL_TITLES.items()}
    result = classifier_figure(labels, predictions["pred_ensemble"], CLASS_NAMES, curves, f"C-NMC ensemble{tag}")
    aucs = "; ".join(f"{n} AUC " + ("undefined" if a is None else f"{a:.3f}") for n, a in result.aucs.items())
    chosen = predictions["chosen_model"].value_counts() if "chosen_model" in predictions else pd.Series(dtype=int)
    choice = ", ".join(f"{MODEL_TITLES.get(m, m)} {n}" for m, n in chosen.items())
    return figure(
        png_data_uri(result.png),
        "C-NMC confusion matrix and ROC",
        f"Confusion matrix of the ensemble and ROC of each model's P(ALL) on {len(predictions)} cells: {aucs}. "
        f"The ensemble took each cell's label from: {choice}.",
    )


def render_cnmc(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    keys = [key for key in inputs.paths if key.startswith("cnmc_") and inputs.has(key)]
    if not keys:
        return []
    tag = synthetic_tag(context, "cnmc")
    table = read_table(inputs.one("cnmc_table"), TABLE_COLUMNS) if inputs.has("cnmc_table") else None
    parts = [context.banner("cnmc"), *evaluation_notes(table, read_split(inputs))]
    subsections = []
    if table is not None:
        parts.append("<h3 id='cnmc-table'>Table 1</h3>" + table_blocks(table, tag))
        subsections.append(("cnmc-table", "Table 1"))
    if inputs.has("cnmc_subjects"):
        parts.append(subject_block(read_table(inputs.one("cnmc_subjects"), ["subject", "n_cells"]), tag))
    figures = []
    if inputs.has("cnmc_predictions"):
        figures.append(prediction_figure(inputs.one("cnmc_predictions"), tag))
    figures.append(
        inputs.figure(
            "cnmc_curves",
            "C-NMC learning curves",
            "Learning curves of model-A, model-B (stage 1) and the combined model (stage 2, class-weighted "
            "loss): training solid, validation dashed.",
        )
    )
    figures.append(
        inputs.figure(
            "cnmc_crop_sheet",
            "C-NMC crops",
            "Cells before (top, with the crop box) and after (bottom) the convex-hull crop.",
        )
    )
    if any(figures):
        parts.append("<h3 id='cnmc-figures'>Figures</h3>" + "".join(figures))
        subsections.append(("cnmc-figures", "Figures"))
    if inputs.has("cnmc_unlabelled"):
        unlabelled = pd.read_csv(inputs.one("cnmc_unlabelled"), sep="\t")
        parts.append(
            paragraph(
                f"{len(unlabelled)} unlabelled final-phase images predicted, never scored: "
                f"{Path(inputs.one('cnmc_unlabelled')).name} (one row per image).",
                "note",
            )
        )
    return [Section("cnmc", "C-NMC 2019: Liu & Long Table 1", "".join(parts), subsections)]


def write_table_page(table_path: str, subjects_path: str, split_path: str, source: dict, html_out: str) -> None:
    """A stand-alone page with the table and per-subject accuracy (for Snakemake's own report)."""
    inputs = ReportInputs({"cnmc_table": table_path, "cnmc_subjects": subjects_path, "cnmc_split": split_path})
    sections = render_cnmc(inputs, ReportContext(sources={"cnmc": source}))
    write_text_atomic(html_out, page("C-NMC 2019: Liu & Long Table 1", "", sections))


SECTIONS = [SectionSpec(("cnmc_",), render_cnmc)]
