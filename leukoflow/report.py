"""The HTML report (`results/report/index.html`): one self-contained page, figures embedded.

Input keys
----------
Rule `report` (workflow/rules/report.smk, `report_inputs()`) passes NAMED inputs; each value is a
path or a list of paths. Every key is optional: a section is rendered only when its keys are
present, so a stage that did not run leaves no empty section behind.

  key                      file(s)                                                 shown in
  sources                  manifests/<dataset>.source.json (list)                  Data sources, every banner
  summary_counts           summary/counts.tsv                                      Datasets
  summary_sizes            summary/sizes.tsv                                       Datasets
  summary_sheets           summary/contact_<dataset>.png (list; dataset from name) Datasets
  summary_rejected         manifests/rejected.tsv                                  Datasets
  table1_<protocol>        tables/table1_<protocol>.tsv                            ALL-IDB2
  curves_<protocol>        allidb2/<protocol>/learning_curves.png                  ALL-IDB2
  predictions_<protocol>   allidb2/<protocol>/fold<k>/test_predictions.tsv (list)  ALL-IDB2 (confusion, ROC)

Keys planned for the coming stages (one renderer each): `table2`, `cells`, `panels`, `cnn50`,
`filters_<name>`, `cnmc_<name>`, `ukm_<name>`.

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
    table = pd.read_csv(path, sep="\t", dtype={"fold": str, "split": str, "class_name": str})
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
