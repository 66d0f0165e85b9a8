"""What every report section builds on: the rule's named inputs, the shared context, section
specs, and the metric table that puts our value with its 95% CI above the paper's.

Adding a section: in its dataset package, write `render_x(inputs, context) -> list[Section]`
that returns [] when its keys are absent, and list `SectionSpec(("key", "prefix_"), render_x)`
in that package's `report_section.SECTIONS`; `report.compose` puts the packages in page order.
A claim ending in "_" matches every key with that prefix. Every string goes through `html.esc`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from leukoflow.core.errors import DatasetError
from leukoflow.core.io import read_tsv
from leukoflow.data.datasets import DATASET_TITLES
from leukoflow.report.html import (
    Cell,
    Section,
    data_banner,
    figure,
    format_ci,
    format_percent,
    html_table,
    image_file_uri,
    is_missing,
    paragraph,
)
from leukoflow.report.provenance import Provenance

BINARY_METRICS = (
    ("accuracy", "Accuracy"),
    ("specificity", "Specificity"),
    ("sensitivity", "Sensitivity"),
    ("f_score", "F-score"),
)
"""Columns and titles of a binary-classification table (Table I, Table II)."""


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

    def figure(self, key: str, alt: str, caption: str = "") -> str:
        """The image file of `key` embedded as a captioned figure; "" when the key is absent."""
        return figure(image_file_uri(self.one(key)), alt, caption) if self.has(key) else ""

    def suffixes(self, prefix: str) -> list[str]:
        """`table1_leak_free`, `table1_paper` -> ["leak_free", "paper"], in input order."""
        return [key[len(prefix) :] for key in self.paths if key.startswith(prefix) and self.paths[key]]


@dataclass
class ReportContext:
    sources: dict[str, dict] = field(default_factory=dict)  # dataset -> manifests/<dataset>.source.json
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


def read_table(path: str, required: Sequence[str]) -> pd.DataFrame:
    table = read_tsv(path, text_columns=("fold", "split", "class_name", "slide"))
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
        cells: list[object] = [plain_value(row.get(c)) for c, _ in columns]
        for name, _ in metrics:
            ours = format_ci(row.get(name), row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high"))
            paper = row.get(f"paper_{name}")
            # The paper's value sits under ours in the same cell: side-by-side columns made
            # Table I too wide to read without scrolling.
            cells.append(
                Cell(
                    ours.replace(", ", ",\u00a0"),  # a narrow table wraps between value and CI, never inside the CI
                    css="metric",
                    note="" if f"paper_{name}" not in table.columns else f"paper {format_percent(paper)}",
                )
            )
        cells += [plain_value(row.get(c)) for c, _ in trailing]
        rows.append(cells)
    return html_table(header, rows, table_id=table_id, row_css=row_css, caption=caption)


def plain_value(value) -> object:
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def confusion_cells(table: pd.DataFrame) -> list[Cell]:
    """`tp / tn / fp / fn` per row, the paper's counts under them when the table has them."""
    keys = ("tp", "tn", "fp", "fn")
    ours = table[list(keys)].astype(int).astype(str).agg(" / ".join, axis=1)
    if all(f"paper_{k}" in table.columns for k in keys):
        paper = "paper " + table[[f"paper_{k}" for k in keys]].astype(int).astype(str).agg(" / ".join, axis=1)
    else:
        paper = pd.Series("", index=table.index)
    return [Cell(o, note=p) for o, p in zip(ours, paper)]


def deviation_block(table: pd.DataFrame, method: str, reasons: Mapping[str, str], switches_key: str) -> str:
    """A method's departures from its paper, read from its table's `deviations` column
    ("switch=value; ..."), each with its reason from `reasons`; `switches_key` names the config
    section of our switches (e.g. "cnmc.ours")."""
    from html import escape

    text = str(table["deviations"].iloc[0]) if "deviations" in table and len(table) else ""
    items = [item.split("=", 1) for item in text.split("; ") if "=" in item]
    if not items:
        return paragraph("Every switch at the paper's value.", "note")
    lead = (
        "Replaced in this run's as-published method, because the paper's value cannot run here:"
        if method == "as_published"
        else f"Departures from the paper (each one switch of `{switches_key}`):"
    )
    lines = "".join(
        f"<li><code>{escape(key)}: {escape(value)}</code>: {escape(reasons.get(key, ''))}</li>" for key, value in items
    )
    return f"<p class='note'>{escape(lead)}</p><ul class='deviations'>{lines}</ul>"


def synthetic_tag(context: ReportContext, dataset: str) -> str:
    return "" if context.sources.get(dataset, {}).get("source") == "real" else " [synthetic]"
