"""The report's first screen: per dataset the headline numbers beside the paper's, the data label
(synthetic or real) and a link to the section, read from the same tables the sections show."""

from __future__ import annotations

import pandas as pd

from leukoflow.core.io import read_tsv
from leukoflow.data.datasets import DATASET_TITLES
from leukoflow.report.framework import ReportContext, ReportInputs
from leukoflow.report.html import esc, format_ci, format_percent
from leukoflow.screen.files import VERDICTS

LABELS = {key: title.split(" (")[0] for key, title in DATASET_TITLES.items()}  # "ALL-IDB2", "C-NMC 2019"


def _headline(key: str, result: str, row, metric: str, paper: str, context: ReportContext) -> tuple:
    """(dataset, result, ours with CI, paper, data label, anchor) of one table row; `key` is the
    dataset's name, its section's anchor and its source's key alike."""
    ours = format_ci(row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"])
    value = row.get(paper)
    source = context.sources.get(key, {}).get("source", "unknown")
    return (LABELS[key], result, ours, "" if value is None or pd.isna(value) else format_percent(value, 1), source, key)


def headline_rows(inputs: ReportInputs, context: ReportContext) -> list[tuple]:
    rows = []
    for protocol in inputs.suffixes("table1_"):
        table = read_tsv(inputs.one(f"table1_{protocol}"), text_columns=("fold",))
        pooled = table[table["fold"] == "all"].iloc[0]
        label = "leak-free" if protocol == "leak_free" else "paper protocol (leaky)"
        rows.append(_headline("allidb2", f"Table I accuracy %, {label}", pooled, "accuracy", "paper_accuracy", context))
    if inputs.has("table2"):
        table = read_tsv(inputs.one("table2"))
        for row in table[table["subset"] == "all scored slides"].to_dict("records"):
            method = str(row.get("method", "")).replace("_", " ")
            result = f"Table II accuracy %{', ' + method if method else ''}"
            rows.append(_headline("allidb1", result, row, "accuracy", "paper_accuracy", context))
    for key in [key for key in inputs.paths if key.startswith("cnmc_table_") and inputs.has(key)]:
        table = read_tsv(inputs.one(key))
        weighted = table[(table["class"] == "weighted avg") & (table["model"] == "ensemble")]
        for row in weighted.to_dict("records"):
            method = str(row.get("method", key.removeprefix("cnmc_table_"))).replace("_", " ")
            result = f"weighted F1 %, ensemble, {method}, {row['protocol']} split"
            rows.append(_headline("cnmc", result, row, "f1", "paper_f1", context))
    if inputs.has("ukm_segmentation"):
        table = read_tsv(inputs.one("ukm_segmentation"), text_columns=("fold",))
        # The row scored as the paper scores (its 70/30 hold-out) when it ran, else the pooled folds.
        main = next((table[table["fold"] == f] for f in ("holdout", "all") if (table["fold"] == f).any()), table)
        if "mask" in main.columns and (main["mask"] == "opened").any():
            main = main[main["mask"] == "opened"]  # the paper's output: after the 5x5 opening
        rows.append(_headline("ukm", "nucleus Dice %", main.iloc[0], "dice", "paper_dice", context))
    if inputs.has("ukm_classification"):
        table = read_tsv(inputs.one("ukm_classification"), text_columns=("class",))
        # the accuracy row carries the accuracy in its f1 columns (sklearn's report layout)
        for row in table[table["class"] == "accuracy"].to_dict("records"):
            method = str(row.get("method", "")).replace("_", " ")
            result = f"classification accuracy %{', ' + method if method else ''}"
            rows.append(_headline("ukm", result, row, "f1", "paper_accuracy", context))
    if inputs.has("screen_images"):
        images = read_tsv(inputs.one("screen_images"), text_columns=("image",))
        counts = images["verdict"].value_counts()
        text = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
        rows.append(("Screening", f"{len(images)} new smears", text, "", "see the section", "screen"))
    return rows


def render_summary(inputs: ReportInputs, context: ReportContext) -> str:
    """The summary table as HTML ('' when no table is there)."""
    rows = headline_rows(inputs, context)
    if not rows:
        return ""
    body = "".join(
        f"<tr><td><a href='#{esc(anchor)}'>{esc(dataset)}</a></td><td class='metric'>{esc(result)}</td>"
        f"<td class='num'>{esc(ours)}</td><td class='num'>{esc(paper)}</td>"
        f"<td class='{'synth' if data != 'real' else ''}'>{esc(data)}</td></tr>"
        for dataset, result, ours, paper, data, anchor in rows
    )
    header = "".join(f"<th>{h}</th>" for h in ("dataset", "result", "this run [95% CI]", "paper", "data"))
    return (
        "<aside id='summary'><h2>At a glance</h2>"
        "<p class='note'>Headline numbers of this run beside the papers'; each dataset links to its section. "
        "Synthetic data shows that the pipeline works and measures what it claims, not what the papers found.</p>"
        f"<div class='scroll'><table id='summary-table'><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>"
        "</aside>"
    )
