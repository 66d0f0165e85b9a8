"""The HTML report (`results/report/index.html`): one self-contained page, figures embedded.

Input keys
----------
Rule `report` (workflow/rules/report.smk; `report_inputs()` in workflow/rules/common.smk) passes
NAMED inputs; each value is a path or a list of paths. Every key is optional: a section is rendered
only when its keys are present, so a stage that did not run leaves no empty section behind.

  key                      file(s)                                                 shown in
  sources                  manifests/<dataset>.source.json (list)                  Data sources, every banner
  summary_counts           summary/counts.tsv                                      Datasets
  summary_sizes            summary/sizes.tsv                                       Datasets
  summary_sheets           summary/contact_<dataset>.png (list; dataset from name) Datasets
  summary_rejected         manifests/rejected.tsv                                  Datasets
  table1_<protocol>        tables/table1_<protocol>.tsv                            ALL-IDB2
  curves_<protocol>        allidb2/<protocol>/learning_curves.png                  ALL-IDB2
  predictions_<protocol>   allidb2/<protocol>/fold<k>/test_predictions.tsv (list)  ALL-IDB2 (confusion, ROC)
  table2                   tables/table2.tsv                                       ALL-IDB1 Table II
  slide_verdicts           allidb1/slide_verdicts.tsv                              ALL-IDB1 Table II (confusion,
                                                                                   ROC), slide panels (choice)
  cells                    tables/allidb1_cells.tsv                                ALL-IDB1 cell level
  cells_per_slide          allidb1/cells_per_slide.tsv                             ALL-IDB1 cell level
  panel_<slide>            allidb1/slides/<slide>/panel.png (one key per slide)    ALL-IDB1 slide panels
  filters_blinding         allidb1/filters/blinding.tsv                            Filter analysis
  filters_blinding_png     allidb1/filters/blinding.png                            Filter analysis
  filters_js_raw           allidb1/filters/js_raw.png                              Filter analysis
  filters_js_sorted        allidb1/filters/js_sorted.png                           Filter analysis
  cnn50                    tables/cnn50.tsv                                        50x50 CNN
  cnn50_predictions        allidb1/cnn50/test_predictions.tsv                      50x50 CNN (confusion, ROC)

Keys planned for the coming stages (one renderer each): `cnmc_<name>`, `ukm_<name>`.

Adding a section: write `render_x(inputs: ReportInputs, context: ReportContext) -> list[Section]`
that returns [] when its keys are absent, and add `SectionSpec(("key", "prefix_"), render_x)` to
SECTIONS (list order = page order). A claim ending in "_" matches every key with that prefix.
Input keys no section claims are logged as a warning, so a forgotten renderer is noticed.
Metric tables go through `metric_table` (our value with its 95% CI beside `paper_<metric>`), data
banners through `report_html.data_banner`, figures from labels and scores through
`report_figures.classifier_figure`, every string through `report_html.esc`.

Provenance (config, git commit, package versions, device, run span, per-job time and memory from
the `benchmark:` files) is always the last section.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml

from leukoflow.errors import DatasetError
from leukoflow.io import write_text_atomic
from leukoflow.manifest import read_source
from leukoflow.report_figures import RocCurve, classifier_figure
from leukoflow.report_html import (
    Cell,
    Section,
    data_banner,
    downscaled_image_uri,
    esc,
    figure,
    format_ci,
    format_percent,
    frame_table,
    html_table,
    image_file_uri,
    is_missing,
    page,
    paragraph,
    png_data_uri,
)
from leukoflow.report_provenance import (
    device_description,
    git_commit,
    package_versions,
    read_benchmarks,
    run_span,
    timestamp,
)
from leukoflow.summary import DATASET_TITLES

log = logging.getLogger(__name__)

PROTOCOL_TITLES = {"leak_free": "Leak-free protocol", "paper": "Paper protocol (LEAKY)"}
TABLE1_METRICS = (
    ("accuracy", "Accuracy"),
    ("specificity", "Specificity"),
    ("sensitivity", "Sensitivity"),
    ("f_score", "F-score"),
)
ALLIDB2_CLASSES = ("healthy", "ALL")  # label 0, 1 (docs/design.md)
ALLIDB1_CLASSES = ("healthy", "ALL")  # slide label 0, 1 (`_0` / `_1` in the file name)
# Slide panels shown per outcome: a few correct slides for reference, the mistakes in full up to 4.
PANEL_PICKS = {"true positive": 2, "true negative": 2, "false positive": 4, "false negative": 4}
PANEL_WIDTH_PX = 1200  # panels are embedded downscaled to this width at most, as JPEG
FILTERS_TOP = 5  # filters listed by how much blinding them raises the error
PER_SLIDE_HEADERS = {  # allidb1/cells_per_slide.tsv columns -> table headers
    "slide": "Slide", "radius_px": "Match radius (px)", "blasts": "Blasts (.xyc)", "abnormal_patches": "Abnormal patches",
    "tp": "TP", "fp": "FP", "fn": "FN", "white_cells": "White cells (truth)", "detections": "Patches", "located": "Located",
}


class ReportInputs:
    """The rule's named inputs, every value as a list of paths."""

    def __init__(self, named: Mapping[str, str | Sequence[str]]):
        self.paths: dict[str, list[str]] = {
            key: [str(value)] if isinstance(value, (str, Path)) else [str(v) for v in value]
            for key, value in named.items()
        }

    def has(self, key: str) -> bool:
        return bool(self.paths.get(key))

    def one(self, key: str) -> str:
        paths = self.paths[key]
        if len(paths) != 1:
            raise ValueError(f"report input {key!r} must be one file, got {len(paths)}")
        return paths[0]

    def many(self, key: str) -> list[str]:
        return self.paths.get(key, [])

    def suffixes(self, prefix: str) -> list[str]:
        """`table1_leak_free`, `table1_paper` -> ["leak_free", "paper"], in input order."""
        return [key[len(prefix):] for key in self.paths if key.startswith(prefix) and self.paths[key]]


@dataclass
class Provenance:
    config: dict
    commit: str
    versions: dict[str, str]
    device: dict[str, str]
    benchmarks: pd.DataFrame
    generated_at: float
    benchmarks_dir: str


@dataclass
class ReportContext:
    sources: dict[str, dict] = field(default_factory=dict)  # dataset -> manifests/<dataset>.source.json
    paper: dict = field(default_factory=dict)  # resources/paper_values.yaml
    provenance: Provenance | None = None

    def title(self, dataset: str) -> str:
        return DATASET_TITLES.get(dataset, dataset)

    def banner(self, dataset: str) -> str:
        return data_banner(self.sources.get(dataset), self.title(dataset))


@dataclass(frozen=True)
class SectionSpec:
    claims: tuple[str, ...]  # input keys this section reads; "x_" claims every key starting "x_"
    render: Callable[[ReportInputs, ReportContext], list[Section]]

    def claims_key(self, key: str) -> bool:
        return any(key == c or (c.endswith("_") and key.startswith(c)) for c in self.claims)


# ---------------------------------------------------------------------------------------------
# Shared pieces


def read_table(path: str, required: Sequence[str]) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", dtype={"fold": str, "split": str, "class_name": str, "slide": str})
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DatasetError(path, f"missing columns {missing}")
    return table


def metric_table(
    table: pd.DataFrame,
    *,
    table_id: str,
    columns: Sequence[tuple[str, str]],
    metrics: Sequence[tuple[str, str]],
    trailing: Sequence[tuple[str, str]] = (),
    row_css: Sequence[str] | None = None,
    caption: str | None = None,
) -> str:
    """Our value with its 95% CI (`<m>`, `<m>_ci_low`, `<m>_ci_high`) and, under it in the same
    cell, the paper's (`paper_<m>`, when the table has it) for every metric; plain `columns`
    before, `trailing` after. Values in [0, 1] are shown in percent."""
    header = [label for _, label in columns]
    header += [f"{label} % [95% CI]" for _, label in metrics]
    header += [label for _, label in trailing]
    rows = []
    for _, row in table.iterrows():
        cells: list[object] = [_plain(row.get(c)) for c, _ in columns]
        for name, _ in metrics:
            ours = format_ci(row.get(name), row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high"))
            paper = row.get(f"paper_{name}")
            # The paper's value sits under ours in the same cell: side-by-side columns made
            # Table I too wide to read without scrolling.
            cells.append(Cell(
                ours.replace(", ", ",\u00a0"),  # a narrow table wraps between value and CI, never inside the CI
                css="metric",
                note="" if f"paper_{name}" not in table.columns else f"paper {format_percent(paper)}",
            ))
        cells += [_plain(row.get(c)) for c, _ in trailing]
        rows.append(cells)
    return html_table(header, rows, table_id=table_id, row_css=row_css, caption=caption)


def _plain(value) -> object:
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ---------------------------------------------------------------------------------------------
# Sections


def render_sources(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not context.sources:
        return []
    rows = [
        [
            context.title(dataset),
            Cell(source.get("source", "?"), "synth" if source.get("source") != "real" else ""),
            Cell(source.get("root", ""), "text"),
            Cell(source.get("manifest_sha256", ""), "text"),
            source.get("n_images", ""),
            source.get("n_rejected", ""),
        ]
        for dataset, source in context.sources.items()
    ]
    statements = "".join(context.banner(dataset) for dataset in context.sources)
    table = html_table(
        ["Dataset", "Data", "Root", "Manifest sha256", "Images", "Rejected"], rows, table_id="sources"
    )
    return [Section("sources", "Data sources", statements + table)]


def render_datasets(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    keys = ("summary_counts", "summary_sizes", "summary_sheets", "summary_rejected")
    if not any(inputs.has(k) for k in keys):
        return []
    counts = read_table(inputs.one("summary_counts"), ["dataset", "split", "class_name", "images"]) if inputs.has("summary_counts") else None
    sizes = read_table(inputs.one("summary_sizes"), ["dataset", "width", "height", "images"]) if inputs.has("summary_sizes") else None
    rejected = (
        pd.read_csv(inputs.one("summary_rejected"), sep="\t", dtype=str, keep_default_na=False)
        if inputs.has("summary_rejected") else None
    )
    sheets = {Path(p).stem.removeprefix("contact_"): p for p in inputs.many("summary_sheets")}
    datasets = list(dict.fromkeys(
        list(context.sources)
        + (counts["dataset"].tolist() if counts is not None else [])
        + list(sheets)
    ))
    parts, subsections = [], []
    for dataset in datasets:
        anchor = f"dataset-{dataset}"
        body = [f"<h3 id='{esc(anchor)}'>{esc(context.title(dataset))}</h3>", context.banner(dataset)]
        if counts is not None:
            subset = counts[counts["dataset"] == dataset].drop(columns="dataset")
            body.append(frame_table(subset, table_id=f"counts-{dataset}", caption="Images per class and split"))
        if sizes is not None:
            subset = sizes[sizes["dataset"] == dataset].drop(columns="dataset")
            body.append(frame_table(subset, table_id=f"sizes-{dataset}", caption="Image sizes (pixels)"))
        if rejected is not None and "dataset" in rejected:
            subset = rejected[rejected["dataset"] == dataset].drop(columns="dataset")
            if len(subset):
                body.append(frame_table(subset, table_id=f"rejected-{dataset}", caption="Rejected files"))
        if dataset in sheets:
            body.append(figure(image_file_uri(sheets[dataset]), f"sample images of {dataset}",
                               "Sample images per class (reproducible random pick)."))
        parts.append("".join(body))
        subsections.append((anchor, context.title(dataset)))
    return [Section("datasets", "Datasets", "".join(parts), subsections)]


def confusion_cells(table: pd.DataFrame) -> list[Cell]:
    """`tp / tn / fp / fn` per row, the paper's counts under them when the table has them."""
    keys = ("tp", "tn", "fp", "fn")
    ours = table[list(keys)].astype(int).astype(str).agg(" / ".join, axis=1)
    if all(f"paper_{k}" in table.columns for k in keys):
        paper = "paper " + table[[f"paper_{k}" for k in keys]].astype(int).astype(str).agg(" / ".join, axis=1)
    else:
        paper = pd.Series("", index=table.index)
    return [Cell(o, note=p) for o, p in zip(ours, paper)]


def pooled_predictions(paths: Sequence[str]) -> pd.DataFrame:
    frames = []
    for path in paths:
        frame = pd.read_csv(path, sep="\t", dtype={"source_id": str, "id": str})
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
        per_cell = predictions.groupby(["fold_file", "source_id"]).agg(label=("label", "first"), prob=("prob_all", "mean"))
        curves["per cell"] = RocCurve(per_cell["label"].to_numpy(), per_cell["prob"].to_numpy())
    return classifier_figure(predictions["label"], predictions["pred"], ALLIDB2_CLASSES, curves, title)


def render_allidb2(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    protocols = list(dict.fromkeys(
        inputs.suffixes("table1_") + inputs.suffixes("curves_") + inputs.suffixes("predictions_")
    ))
    if not protocols:
        return []
    paper = context.paper.get("table1", {})
    parts = [context.banner("allidb2")]
    if paper:
        counts = paper.get("per_fold", {})
        parts.append(paragraph(
            f"Paper values: {paper.get('source', '?')}; every fold TP {counts.get('tp', '?')}, "
            f"TN {counts.get('tn', '?')}, FP {counts.get('fp', '?')}, FN {counts.get('fn', '?')}.", "note"))
    subsections = []
    synthetic_tag = " [synthetic]" if context.sources.get("allidb2", {}).get("source") != "real" else ""
    for protocol in protocols:
        anchor = f"allidb2-{protocol}"
        name = PROTOCOL_TITLES.get(protocol, protocol)
        body = [f"<h3 id='{esc(anchor)}'>{esc(name)}</h3>"]
        table = None
        if inputs.has(f"table1_{protocol}"):
            required = ["fold", "tp", "tn", "fp", "fn", *(m for m, _ in TABLE1_METRICS)]
            table = read_table(inputs.one(f"table1_{protocol}"), required)
        leaked = int(table["test_sources_seen_in_training"].iloc[:-1].sum()) if table is not None and "test_sources_seen_in_training" in table else 0
        if protocol == "paper" or leaked:
            body.append(paragraph(
                f"LEAKY: {leaked} test cells had rotated/mirrored copies in the training bags. "
                "These scores do not measure how well the network generalises to new cells.", "warning"))
        elif protocol == "leak_free":
            body.append(paragraph("Leak-free: all augmented copies of a source cell are in one bag.", "note"))
        if table is not None:
            pooled = table["fold"].astype(str) == "all"
            leaky = table["leaky"].astype(bool) if "leaky" in table else pd.Series(False, index=table.index)
            css = [" ".join(c for c, on in (("pooled", p), ("leak", l)) if on) for p, l in zip(pooled, leaky)]
            table = table.assign(counts=confusion_cells(table))
            if {"train_bags", "val_bag", "test_bag"} <= set(table.columns):
                bags = table[["train_bags", "val_bag", "test_bag"]].fillna("")
                table["bags"] = (bags["train_bags"] + " | " + bags["val_bag"] + " | " + bags["test_bag"]).where(
                    bags["test_bag"] != "", "")
            columns = [(c, label) for c, label in (
                ("fold", "Fold"), ("bags", "Bags: train | val | test"), ("n_test", "Test images"),
                ("counts", "TP / TN / FP / FN"),
            ) if c in table.columns]
            metrics = list(TABLE1_METRICS)
            if "source_accuracy" in table.columns:
                metrics.append(("source_accuracy", "Per-cell accuracy"))
            # Leaky rows are shaded red; the count says how many test cells were seen in training.
            trailing = [(c, "Test cells seen in training") for c in ("test_sources_seen_in_training",) if c in table.columns]
            body.append(metric_table(
                table, table_id=f"table1-{protocol}", columns=columns, metrics=metrics, trailing=trailing,
                row_css=css, caption=f"Table I, {name}{synthetic_tag}: per fold, then pooled over folds ('all'); "
                "under each value of ours, in grey, the paper's; leaky rows shaded red."))
            body.append(paragraph(
                "Image-level intervals treat the augmented copies of a cell as independent and are too "
                "narrow; per-cell accuracy scores each test cell once (mean probability over its copies).",
                "note"))
        if inputs.has(f"curves_{protocol}"):
            body.append(figure(image_file_uri(inputs.one(f"curves_{protocol}")), f"learning curves {protocol}",
                               f"Learning curves, {name}: training (solid) and validation (dashed) per fold."))
        if inputs.has(f"predictions_{protocol}"):
            predictions = pooled_predictions(inputs.many(f"predictions_{protocol}"))
            result = allidb2_prediction_figure(predictions, f"ALL-IDB2 {name}{synthetic_tag}, pooled over folds")
            auc_text = "; ".join(
                f"{curve} AUC " + ("undefined (one class only)" if auc is None else f"{auc:.3f}")
                for curve, auc in result.aucs.items()
            )
            body.append(figure(
                png_data_uri(result.png), f"confusion matrix and ROC {protocol}",
                f"Test predictions of {len(inputs.many(f'predictions_{protocol}'))} fold(s) pooled "
                f"({len(predictions)} images): {auc_text}."))
        parts.append("".join(body))
        subsections.append((anchor, name))
    return [Section("allidb2", "ALL-IDB2: Table I", "".join(parts), subsections)]


# ---------------------------------------------------------------------------------------------
# ALL-IDB1: Table II, slide-level confusion and ROC, cell-level detection, slide panels;
# filter analysis of the ALL-IDB2 network; the 50x50 CNN baseline.


def synthetic_tag(context: ReportContext, dataset: str) -> str:
    return "" if context.sources.get(dataset, {}).get("source") == "real" else " [synthetic]"


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
    """Rule slide_verdicts' per-slide table; only slides with status `scored` count anywhere."""
    verdicts = read_table(path, ["slide", "label", "status", "n_patches", "n_abnormal", "max_prob", "verdict"])
    scored = verdicts[verdicts["status"] == "scored"].copy()
    if scored["label"].isna().any():
        raise DatasetError(path, "a scored slide has no label")
    scored["outcome"] = slide_outcomes(scored)
    overlaps = scored["overlaps_training"] if "overlaps_training" in scored else pd.Series(False, index=scored.index)
    scored["overlaps_training"] = overlaps.astype(str).str.lower().eq("true")
    return scored


def select_panel_slides(verdicts: pd.DataFrame, available: Sequence[str],
                        picks: Mapping[str, int] = PANEL_PICKS) -> pd.DataFrame:
    """Up to `picks[outcome]` slides per outcome among those with a panel, most confident verdict
    first (highest max P(ALL) for an ALL verdict, lowest for a healthy one), ties by slide id:
    deterministic, and it shows the clearest hits and the most confident mistakes."""
    shown = verdicts[verdicts["slide"].isin(list(available))].assign(
        confidence=lambda t: np.where(t["verdict"].astype(int) == 1, t["max_prob"], -t["max_prob"]))
    chosen = [
        shown[shown["outcome"] == outcome].sort_values(["confidence", "slide"], ascending=[False, True]).head(n)
        for outcome, n in picks.items()
    ]
    return pd.concat(chosen).drop(columns="confidence") if chosen else shown.iloc[:0]


def panel_caption(row) -> str:
    label, verdict = (ALLIDB1_CLASSES[int(row[k])] for k in ("label", "verdict"))
    overlap = "; overlaps the ALL-IDB2 training crops" if row["overlaps_training"] else ""
    return (f"{row['slide']}: label {label}, verdict {verdict} ({row['outcome']}); {int(row['n_patches'])} patches, "
            f"{int(row['n_abnormal'])} abnormal, max P(ALL) {float(row['max_prob']):.3f}{overlap}.")


def network_statement(context: ReportContext) -> str:
    """Slides are read by the ALL-IDB2 network: its training data is part of every slide result."""
    if "allidb2" not in context.sources:
        return ""
    return paragraph("The patch classifier is the ALL-IDB2 network; its training data:", "note") + context.banner("allidb2")


def render_table2(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not (inputs.has("table2") or inputs.has("slide_verdicts")):
        return []
    tag = synthetic_tag(context, "allidb1")
    parts = [context.banner("allidb1"), network_statement(context)]
    subsections = []
    if inputs.has("table2"):
        required = ["subset", "n_slides", "tp", "tn", "fp", "fn",
                    *(f"{m}{s}" for m, _ in TABLE1_METRICS for s in ("", "_ci_low", "_ci_high"))]
        table = read_table(inputs.one("table2"), required)
        paper = context.paper.get("table2", {})
        subsections.append(("allidb1-table2", "Table II"))
        parts.append("<h3 id='allidb1-table2'>Table II</h3>")
        if paper:
            values = paper.get("values", {})
            parts.append(paragraph(
                f"Paper values: {paper.get('source', '?')}; TP {values.get('tp', '?')}, TN {values.get('tn', '?')}, "
                f"FP {values.get('fp', '?')}, FN {values.get('fn', '?')}.", "note"))
        parts.append(metric_table(
            table.assign(counts=confusion_cells(table)), table_id="table2",
            columns=[("subset", "Subset"), ("n_slides", "Slides"), ("counts", "TP / TN / FP / FN")],
            metrics=TABLE1_METRICS,
            caption=f"Table II{tag}: slide called ALL when it holds at least k abnormal patches; "
            "under each value of ours, in grey, the paper's."))
    if inputs.has("slide_verdicts"):
        verdicts = read_verdicts(inputs.one("slide_verdicts"))
        overlapping = int(verdicts["overlaps_training"].sum())
        if overlapping or context.sources.get("allidb1", {}).get("source") == "real":
            from leukoflow.table2 import OVERLAP_NOTE  # imports torch: only when the note applies

            parts.append(paragraph(f"{OVERLAP_NOTE} Slides marked as overlapping: {overlapping}.", "warning"))
        result = classifier_figure(
            verdicts["label"].astype(int), verdicts["verdict"].astype(int), ALLIDB1_CLASSES,
            {"slides, score max patch P(ALL)": RocCurve(verdicts["label"].astype(int).to_numpy(),
                                                         verdicts["max_prob"].to_numpy(float))},
            f"ALL-IDB1 slides{tag}: label vs verdict")
        auc = next(iter(result.aucs.values()))
        subsections.append(("allidb1-slides-roc", "Slide-level confusion matrix and ROC"))
        parts.append("<h3 id='allidb1-slides-roc'>Slide-level confusion matrix and ROC</h3>")
        parts.append(figure(
            png_data_uri(result.png), "slide-level confusion matrix and ROC",
            f"{len(verdicts)} scored slides: verdict against label; ROC of the slide score max P(ALL) over its "
            f"patches (a slide without patches scores 0): AUC "
            + ("undefined (one class only)" if auc is None else f"{auc:.3f}") + "."))
        wrong = verdicts[verdicts["outcome"].str.startswith("false")].sort_values(["outcome", "slide"])
        if len(wrong):
            rows = [[r.slide, r.outcome, int(r.n_patches), int(r.n_abnormal), f"{r.max_prob:.3f}",
                     "yes" if r.overlaps_training else "no"] for r in wrong.itertuples()]
            parts.append(html_table(
                ["Slide", "Outcome", "Patches", "Abnormal patches", "Max P(ALL)", "Overlaps training"], rows,
                table_id="allidb1-wrong", caption="Misclassified slides (panels of up to 4 per outcome below)."))
    return [Section("allidb1", "ALL-IDB1: Table II (slide level)", "".join(parts), subsections)]


def render_cells(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not (inputs.has("cells") or inputs.has("cells_per_slide")):
        return []
    tag = synthetic_tag(context, "allidb1")
    parts = [context.banner("allidb1"), paragraph(
        "Not reported by the paper. Blast detection: abnormal patch centres matched one-to-one to the "
        ".xyc blast centroids within a radius scaled to the slide width. White-cell localisation (synthetic "
        "data only, where the generator knows every white cell): any patch centre matched to any white cell.",
        "note")]
    if inputs.has("cells"):
        cells = read_table(inputs.one("cells"), ["level", "tp", "fp", "fn", "precision", "recall", "f1"])
        # F1 has no interval in allidb1_cells.tsv (no closed form like Wilson's): shown without one.
        cells["f1_text"] = cells["f1"].map(format_percent)
        parts.append(metric_table(
            cells, table_id="allidb1-cells",
            columns=[("level", "Level"), ("tp", "TP"), ("fp", "FP"), ("fn", "FN")],
            metrics=(("precision", "Precision"), ("recall", "Recall")), trailing=[("f1_text", "F1 %")],
            caption=f"Cell-level detection{tag}, pooled over scored slides (Wilson 95% intervals)."))
    if inputs.has("cells_per_slide"):
        per_slide = read_table(inputs.one("cells_per_slide"), ["slide", "tp", "fp", "fn"])
        if "radius_px" in per_slide:
            per_slide["radius_px"] = per_slide["radius_px"].map("{:.1f}".format)
        per_slide = per_slide.rename(columns=PER_SLIDE_HEADERS)
        parts.append(frame_table(per_slide, table_id="allidb1-cells-per-slide",
                                 caption=f"Per slide{tag}: blasts (.xyc), abnormal patches and their matches."))
    return [Section("allidb1-cells", "ALL-IDB1: cell-level detection", "".join(parts))]


def render_panels(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    panels = {slide: inputs.one(f"panel_{slide}") for slide in inputs.suffixes("panel_")}
    if not panels:
        return []
    parts = [context.banner("allidb1")]
    subsections = []
    if inputs.has("slide_verdicts"):
        chosen = select_panel_slides(read_verdicts(inputs.one("slide_verdicts")), list(panels))
        groups = [(outcome, chosen[chosen["outcome"] == outcome]) for outcome in PANEL_PICKS]
        parts.append(paragraph(
            f"{len(chosen)} of {len(panels)} slide panels: up to "
            + ", ".join(f"{n} {outcome}s" for outcome, n in PANEL_PICKS.items())
            + ", most confident verdict first. Red boxes: abnormal patches; green: normal.", "note"))
        for outcome, group in groups:
            if group.empty:
                continue
            anchor = "panels-" + outcome.replace(" ", "-")
            subsections.append((anchor, f"{outcome.capitalize()}s"))
            parts.append(f"<h3 id='{esc(anchor)}'>{esc(outcome.capitalize())}s ({len(group)})</h3>")
            parts += [figure(downscaled_image_uri(panels[row["slide"]], PANEL_WIDTH_PX), f"panel {row['slide']}",
                             panel_caption(row)) for _, row in group.iterrows()]
    else:  # no verdicts to choose by: the first slides by id, captioned with the id only
        shown = sorted(panels)[:sum(PANEL_PICKS.values())]
        parts.append(paragraph(f"{len(shown)} of {len(panels)} slide panels (no slide verdicts given).", "note"))
        parts += [figure(downscaled_image_uri(panels[s], PANEL_WIDTH_PX), f"panel {s}", f"{s}.") for s in shown]
    return [Section("allidb1-panels", "ALL-IDB1: slide panels", "".join(parts), subsections)]


def render_filters(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not inputs.suffixes("filters_"):
        return []
    # The network and its test patches are ALL-IDB2's: that is the data statement here.
    parts = [context.banner("allidb2"), paragraph(
        "Ghosh et al. 2017, IV-B and IV-C: each filter of the last convolutional layer blinded in turn "
        "(classification error on held-out ALL-IDB2 test patches), and Jensen-Shannon distances between the "
        "filters' responses to a white image, raw and sorted by hierarchical clustering.", "note")]
    if inputs.has("filters_blinding"):
        blinding = read_table(inputs.one("filters_blinding"), ["filter", "error", "baseline_error", "error_increase", "n_patches"])
        hurt = int((blinding["error_increase"] > 0).sum())
        parts.append(paragraph(
            f"{len(blinding)} filters, {int(blinding['n_patches'].iloc[0]) if len(blinding) else 0} patches; error with no "
            f"filter blinded {format_percent(blinding['baseline_error'].iloc[0] if len(blinding) else None)}%; "
            f"{hurt} filters raise the error when blinded."))
        # Only filters that matter are listed: a "top 5" of zero increases would suggest an order there is not.
        top = blinding[blinding["error_increase"] > 0].sort_values(
            ["error_increase", "filter"], ascending=[False, True]).head(FILTERS_TOP)
        if len(top):
            parts.append(html_table(
                ["Filter", "Error % when blinded", "Increase (points)"],
                [[int(r.filter), format_percent(r.error), format_percent(r.error_increase)] for r in top.itertuples()],
                table_id="filters-top", caption=f"The {len(top)} filters whose blinding raises the error most."))
    figures = (("filters_blinding_png", "filter blinding", "Classification error with each filter blinded."),
               ("filters_js_raw", "JS distances raw", "Jensen-Shannon distance between filter maps, filter order."),
               ("filters_js_sorted", "JS distances sorted", "The same distances, sorted by hierarchical clustering."))
    shown = [figure(image_file_uri(inputs.one(key)), alt, caption) for key, alt, caption in figures if inputs.has(key)]
    parts.append("<div class='figrow'>" + "".join(shown) + "</div>")
    return [Section("filters", "Filter analysis (ALL-IDB2 network)", "".join(parts))]


def render_cnn50(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not (inputs.has("cnn50") or inputs.has("cnn50_predictions")):
        return []
    tag = synthetic_tag(context, "allidb1")
    parts = [context.banner("allidb1")]
    paper = context.paper.get("cnn50", {})
    if paper:
        parts.append(paragraph(f"Paper value: {paper.get('source', '?')}: accuracy "
                               f"{format_percent(paper.get('values', {}).get('accuracy'), 1)}%.", "note"))
    if inputs.has("cnn50"):
        table = read_table(inputs.one("cnn50"), ["fold", "n_test", "tp", "tn", "fp", "fn", "accuracy"])
        css = ["pooled" if fold == "all" else "" for fold in table["fold"].astype(str)]
        trailing = [(c, "Test slides seen in training") for c in ("test_slides_seen_in_training",) if c in table]
        parts.append(metric_table(
            table.assign(counts=confusion_cells(table)), table_id="cnn50",
            columns=[("fold", "Fold"), ("n_test", "Test slides"), ("counts", "TP / TN / FP / FN")],
            metrics=(("accuracy", "Accuracy"),), trailing=trailing, row_css=css,
            caption=f"50x50 CNN on whole ALL-IDB1 images{tag}, leak-free folds, then pooled ('all'); "
            "under our accuracy, in grey, the paper's."))
    if inputs.has("cnn50_predictions"):
        predictions = read_table(inputs.one("cnn50_predictions"), ["label", "prob_all", "pred"])
        result = classifier_figure(
            predictions["label"], predictions["pred"], ALLIDB1_CLASSES,
            {"test slides": RocCurve(predictions["label"].to_numpy(), predictions["prob_all"].to_numpy(float))},
            f"ALL-IDB1 50x50 CNN{tag}, test slides pooled over folds")
        auc = result.aucs["test slides"]
        parts.append(figure(png_data_uri(result.png), "confusion matrix and ROC cnn50",
                            f"{len(predictions)} test slides: AUC "
                            + ("undefined (one class only)" if auc is None else f"{auc:.3f}") + "."))
    return [Section("cnn50", "ALL-IDB1: 50x50 CNN baseline", "".join(parts))]


def render_provenance(provenance: Provenance) -> Section:
    span = run_span(provenance.benchmarks)
    facts = {
        "Report written": timestamp(provenance.generated_at),
        "Run span": (
            f"{timestamp(span.start)} to {timestamp(span.end)} over {span.n_jobs} jobs (earliest job start = "
            "benchmark file time minus its wall-clock seconds; latest job end = latest benchmark file time; "
            f"jobs kept from earlier invocations count too; benchmarks in {provenance.benchmarks_dir})"
            if span.n_jobs else "unknown (no benchmark files)"
        ),
        "Git commit": provenance.commit,
        **{f"Device: {k}": v for k, v in provenance.device.items()},
    }
    facts_html = "<dl class='kv'>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts.items()) + "</dl>"
    versions = html_table(["Package", "Version"], provenance.versions.items(), table_id="versions")
    bench = provenance.benchmarks.sort_values(["finished", "rule", "job"])
    bench_rows = [
        [r.rule, r.job or "—", f"{r.seconds:.2f}", "" if is_missing(r.max_rss_mb) else f"{r.max_rss_mb:.0f}", timestamp(r.finished)]
        for r in bench.itertuples()
    ]
    total = f"sum of job wall times {bench['seconds'].sum():.1f} s" if len(bench) else "no benchmark files"
    bench_html = html_table(["Rule", "Job", "Seconds", "Max RSS (MB)", "Finished"], bench_rows,
                            table_id="benchmarks", caption=f"Time and memory per job ({total}).")
    config = yaml.safe_dump(provenance.config, sort_keys=False, default_flow_style=False)
    body = (
        facts_html
        + "<h3 id='prov-versions'>Software</h3>" + versions
        + "<h3 id='prov-jobs'>Jobs</h3>" + bench_html
        + "<h3 id='prov-config'>Configuration</h3>" + f"<pre>{esc(config)}</pre>"
    )
    return Section("provenance", "Provenance", body,
                   [("prov-versions", "Software"), ("prov-jobs", "Jobs"), ("prov-config", "Configuration")])


SECTIONS: list[SectionSpec] = [
    SectionSpec(("sources",), render_sources),
    SectionSpec(("summary_counts", "summary_sizes", "summary_sheets", "summary_rejected"), render_datasets),
    SectionSpec(("table1_", "curves_", "predictions_"), render_allidb2),
    SectionSpec(("table2", "slide_verdicts"), render_table2),
    SectionSpec(("cells", "cells_per_slide"), render_cells),
    SectionSpec(("panel_", "slide_verdicts"), render_panels),
    SectionSpec(("filters_",), render_filters),
    SectionSpec(("cnn50", "cnn50_predictions"), render_cnn50),
]


# ---------------------------------------------------------------------------------------------
# Whole report


def load_sources(paths: Sequence[str]) -> dict[str, dict]:
    sources = {}
    for path in paths:
        source = read_source(path)
        if "dataset" not in source or "source" not in source:
            raise DatasetError(path, "not a manifest provenance record (needs 'dataset' and 'source')")
        sources[source["dataset"]] = source
    return sources


def unclaimed_keys(inputs: ReportInputs, sections: Sequence[SectionSpec] = SECTIONS) -> list[str]:
    return [key for key in inputs.paths if not any(spec.claims_key(key) for spec in sections)]


def render_report(inputs: ReportInputs, context: ReportContext, title: str = "leukoflow report") -> str:
    for key in unclaimed_keys(inputs):
        log.warning("report input %r is shown by no section (add a renderer to report.SECTIONS)", key)
    sections: list[Section] = []
    for spec in SECTIONS:
        sections += spec.render(inputs, context)
    if context.provenance is not None:
        sections.append(render_provenance(context.provenance))
    config = context.provenance.config if context.provenance else {}
    kinds = {s.get("source") for s in context.sources.values()}
    data_kind = (
        "synthetic demo data, not a reproduction" if kinds == {"synthetic"}
        else "real data" if kinds == {"real"}
        else "mixed real and synthetic data (see Data sources)" if kinds else "data source unknown"
    )
    label = config.get("run_label")
    generated = timestamp(context.provenance.generated_at) if context.provenance else ""
    subtitle = " · ".join(str(s) for s in (label, data_kind, f"written {generated}" if generated else "") if s)
    return page(title, subtitle, sections)


def collect_provenance(config: dict, workflow_dir: str, benchmarks_dir: str, exclude: Sequence[str] = ()) -> Provenance:
    return Provenance(
        config=config,
        commit=git_commit(workflow_dir),
        versions=package_versions(),
        device=device_description(),
        benchmarks=read_benchmarks(benchmarks_dir, tuple(exclude)),
        generated_at=datetime.now().timestamp(),
        benchmarks_dir=str(benchmarks_dir),
    )


def write_report(
    *,
    inputs: Mapping[str, str | Sequence[str]],
    config: dict,
    paper: dict,
    workflow_dir: str,
    benchmarks_dir: str,
    html_out: str,
    exclude_benchmarks: Sequence[str] = (),
) -> str:
    """Render and write the report; returns the HTML."""
    report_inputs = ReportInputs(inputs)
    context = ReportContext(
        sources=load_sources(report_inputs.many("sources")),
        paper=paper,
        provenance=collect_provenance(config, workflow_dir, benchmarks_dir, exclude_benchmarks),
    )
    document = render_report(report_inputs, context)
    write_text_atomic(html_out, document)
    log.info("report written to %s (%d bytes)", html_out, len(document.encode()))
    return document
