"""The report's first sections: where each dataset's data came from, and what it holds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from leukoflow.core.errors import DatasetError
from leukoflow.data.manifest import read_source
from leukoflow.report.framework import ReportContext, ReportInputs, SectionSpec, read_table
from leukoflow.report.html import Cell, Section, esc, figure, frame_table, html_table, image_file_uri


def load_sources(paths: Sequence[str]) -> dict[str, dict]:
    sources = {}
    for path in paths:
        source = read_source(path)
        if "dataset" not in source or "source" not in source:
            raise DatasetError(path, "not a manifest provenance record (needs 'dataset' and 'source')")
        sources[source["dataset"]] = source
    return sources


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
    table = html_table(["Dataset", "Data", "Root", "Manifest sha256", "Images", "Rejected"], rows, table_id="sources")
    return [Section("sources", "Data sources", statements + table)]


def render_datasets(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    keys = ("summary_counts", "summary_sizes", "summary_sheets", "summary_rejected")
    if not any(inputs.has(k) for k in keys):
        return []
    counts = (
        read_table(inputs.one("summary_counts"), ["dataset", "split", "class_name", "images"])
        if inputs.has("summary_counts")
        else None
    )
    sizes = (
        read_table(inputs.one("summary_sizes"), ["dataset", "width", "height", "images"])
        if inputs.has("summary_sizes")
        else None
    )
    rejected = (
        pd.read_csv(inputs.one("summary_rejected"), sep="\t", dtype=str, keep_default_na=False)
        if inputs.has("summary_rejected")
        else None
    )
    sheets = {Path(p).stem.removeprefix("contact_"): p for p in inputs.many("summary_sheets")}
    datasets = list(
        dict.fromkeys(list(context.sources) + (counts["dataset"].tolist() if counts is not None else []) + list(sheets))
    )
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
            body.append(
                figure(
                    image_file_uri(sheets[dataset]),
                    f"sample images of {dataset}",
                    "Sample images per class (reproducible random pick).",
                )
            )
        parts.append("".join(body))
        subsections.append((anchor, context.title(dataset)))
    return [Section("datasets", "Datasets", "".join(parts), subsections)]


SECTIONS = [
    SectionSpec(("sources",), render_sources),
    SectionSpec(("summary_counts", "summary_sizes", "summary_sheets", "summary_rejected"), render_datasets),
]
