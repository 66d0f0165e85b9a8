"""The HTML report's renderers: sections only for inputs that exist, CIs beside paper values, data
source statements, escaping of every data string, and the provenance table from benchmark files."""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from leukoflow.allidb1 import report_section as allidb1_section
from leukoflow.core.errors import DatasetError
from leukoflow.core.metrics import roc_points
from leukoflow.report import html as report_html
from leukoflow.report import provenance as report_provenance
from leukoflow.report.compose import render_report, write_report
from leukoflow.report.figures import RocCurve, classifier_figure, confusion_matrix
from leukoflow.report.framework import ReportContext, ReportInputs
from leukoflow.report.html import format_ci
from leukoflow.report.provenance import BENCHMARK_COLUMNS, Provenance, git_commit, read_benchmarks, run_span

EVIL = "<script>alert(1)</script>.tif"
EVIL_ATTR = "\"'><img src=x onerror=alert(2)>"
SHA = "ab" * 32


class Markup(HTMLParser):
    """Every live element of a page: tag names, their attributes, and the text."""

    def __init__(self, document: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.document = document
        self.feed(document)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def ids(self, tag: str) -> list[str]:
        return [attrs.get("id") for t, attrs in self.tags if t == tag]


def png(path: Path) -> str:
    Image.new("RGB", (12, 8), (200, 30, 30)).save(path)
    return str(path)


def source(tmp: Path, dataset: str, kind: str = "synthetic", root: str | None = None) -> str:
    path = tmp / f"{dataset}.source.json"
    path.write_text(
        json.dumps(
            {
                "dataset": dataset,
                "source": kind,
                "root": root or f"/data/{dataset}",
                "n_images": 4,
                "n_rejected": 0,
                "manifest_sha256": SHA,
                "synthetic_seed": 3 if kind == "synthetic" else None,
            }
        )
    )
    return str(path)


def table1(tmp: Path, protocol: str, leaked: int = 0, bags: str = "B1,B2,B3") -> str:
    """A Table I TSV with the columns rule table1 writes: one fold, then the pooled row."""
    rows = []
    for fold in ("1", "all"):
        row = {
            "protocol": protocol,
            "data": "synthetic",
            "fold": fold,
            "train_bags": bags if fold == "1" else "",
            "val_bag": "B4" if fold == "1" else "",
            "test_bag": "B5" if fold == "1" else "",
            "n_test": 10,
            "tp": 4,
            "tn": 5,
            "fp": 0,
            "fn": 1,
        }
        for name, value in (("accuracy", 0.9), ("specificity", 1.0), ("sensitivity", 0.8), ("f_score", 0.8889)):
            row.update({name: value, f"{name}_ci_low": value - 0.3, f"{name}_ci_high": min(1.0, value + 0.05)})
        row.update(
            {
                "source_accuracy": 0.5 if fold == "1" else math.nan,
                "source_accuracy_ci_low": 0.1 if fold == "1" else math.nan,
                "source_accuracy_ci_high": 0.9 if fold == "1" else math.nan,
                "test_sources_seen_in_training": leaked,
            }
        )
        for name, value in (
            ("tp", 936),
            ("tn", 936),
            ("fp", 0),
            ("fn", 0),
            ("accuracy", 0.9722),
            ("specificity", 1.0),
            ("sensitivity", 1.0),
            ("f_score", 1.0),
        ):
            row[f"paper_{name}"] = value
        row["leaky"] = leaked > 0
        rows.append(row)
    path = tmp / f"table1_{protocol}.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return str(path)


def predictions(tmp: Path, name: str, labels, probs, ids=None) -> str:
    labels = np.asarray(labels)
    probs = np.asarray(probs, dtype=np.float32)
    ids = ids or [f"Im{i:03d}_1" for i in range(len(labels))]
    path = tmp / f"{name}.tsv"
    pd.DataFrame(
        {
            "row": range(len(labels)),
            "id": ids,
            "source_id": ids,
            "angle": 0,
            "mirrored": False,
            "label": labels,
            "prob_all": probs,
            "pred": (probs >= 0.5).astype(int),
        }
    ).to_csv(path, sep="\t", index=False)
    return str(path)


def summary_files(tmp: Path, datasets=("allidb2",), class_name: str = "ALL") -> dict:
    counts = pd.DataFrame(
        [
            {"dataset": d, "split": "all", "class_name": c, "images": 2, "sources": 2}
            for d in datasets
            for c in (class_name, "healthy")
        ]
    )
    sizes = pd.DataFrame([{"dataset": d, "width": 257, "height": 257, "images": 4} for d in datasets])
    counts.to_csv(tmp / "counts.tsv", sep="\t", index=False)
    sizes.to_csv(tmp / "sizes.tsv", sep="\t", index=False)
    return {
        "summary_counts": str(tmp / "counts.tsv"),
        "summary_sizes": str(tmp / "sizes.tsv"),
        "summary_sheets": [png(tmp / f"contact_{d}.png") for d in datasets],
    }


def provenance(config=None, benchmarks=None) -> Provenance:
    return Provenance(
        config=config or {"results": "results"},
        commit="unknown",
        versions={"python": "3.x", "numpy": "2"},
        device={"cpu": "test cpu", "gpu": "none"},
        benchmarks=benchmarks if benchmarks is not None else pd.DataFrame(columns=BENCHMARK_COLUMNS),
        generated_at=1_700_000_000.0,
        benchmarks_dir="results/benchmarks",
    )


def render(inputs: dict, sources: dict | None = None, **kwargs) -> tuple[str, Markup]:
    context = ReportContext(sources=sources or {}, provenance=provenance(**kwargs))
    document = render_report(ReportInputs(inputs), context)
    return document, Markup(document)


def section_ids(markup: Markup) -> list[str]:
    return markup.ids("section")


# ---------------------------------------------------------------------------------------------


def test_format_ci_percent_with_interval_and_missing_values():
    assert format_ci(0.97222, 0.951, 0.9899) == "97.22 [95.1, 99.0]"
    assert format_ci(float("nan"), float("nan"), float("nan")) == "n/a"
    assert format_ci(1.0, None, None) == "100.00 [CI n/a]"


def test_only_sections_with_inputs_appear(tmp_path):
    _, markup = render({})
    assert section_ids(markup) == ["provenance"]

    inputs = {"table1_paper": table1(tmp_path, "paper", leaked=3)}
    document, markup = render(inputs)
    assert section_ids(markup) == ["allidb2", "provenance"]
    assert "allidb2-paper" in markup.ids("h3") and "allidb2-leak_free" not in markup.ids("h3")
    assert "datasets" not in document and "<figure" not in document  # no curves or predictions given

    inputs.update(
        summary_files(tmp_path), predictions_paper=[predictions(tmp_path, "p", [0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6])]
    )
    _, markup = render(inputs, sources={"allidb2": json.loads(Path(source(tmp_path, "allidb2")).read_text())})
    assert section_ids(markup) == ["sources", "datasets", "allidb2", "provenance"]
    assert [t for t, _ in markup.tags].count("img") == 2  # contact sheet, confusion/ROC


def test_table1_shows_ci_beside_paper_value_and_flags_leaky_protocol(tmp_path):
    document, markup = render(
        {"table1_leak_free": table1(tmp_path, "leak_free"), "table1_paper": table1(tmp_path, "paper", leaked=7)}
    )
    text = " ".join(markup.text).replace("\xa0", " ")
    assert "90.00 [60.0, 95.0]" in text and "paper 97.22" in text  # ours with CI, then the paper's
    assert "paper 936 / 936 / 0 / 0" in text and "4 / 5 / 0 / 1" in text
    assert "Paper protocol (LEAKY)" in text
    assert "LEAKY: 7 test cells had rotated/mirrored copies" in text
    leak_rows = [a.get("class", "") for t, a in markup.tags if t == "tr" and "leak" in a.get("class", "")]
    assert len(leak_rows) == 2  # the leaky fold and the pooled row of the paper protocol only
    assert text.count("LEAKY:") == 1  # the leak-free protocol carries no warning


def test_synthetic_and_real_data_statements(tmp_path):
    sources = {
        "allidb2": json.loads(Path(source(tmp_path, "allidb2")).read_text()),
        "ukm": json.loads(Path(source(tmp_path, "ukm", "real", root="/srv/UKM-WBC")).read_text()),
    }
    document, markup = render(
        {"table1_leak_free": table1(tmp_path, "leak_free"), **summary_files(tmp_path, ("allidb2", "ukm"))},
        sources=sources,
    )
    text = "".join(markup.text)
    assert (
        text.count("ALL-IDB2 (single-cell crops): synthetic demo data, not a reproduction") == 3
    )  # sources, datasets, Table I
    assert f"real data from /srv/UKM-WBC, manifest sha256 {SHA}" in text
    assert "UKM-WBC (white cells with nucleus masks): synthetic" not in text
    assert "mixed real and synthetic data" in text  # the subtitle


def test_every_data_string_is_escaped(tmp_path):
    sources = {"allidb2": json.loads(Path(source(tmp_path, "allidb2", "real", root=f"/data/{EVIL}")).read_text())}
    rejected = tmp_path / "rejected.tsv"
    pd.DataFrame([{"dataset": "allidb2", "path": f"/data/{EVIL}", "problem": EVIL_ATTR}]).to_csv(
        rejected, sep="\t", index=False
    )
    inputs = {
        **summary_files(tmp_path, class_name=EVIL),
        "summary_rejected": str(rejected),
        "table1_paper": table1(tmp_path, "paper", bags=EVIL_ATTR),
        "predictions_paper": [predictions(tmp_path, "p", [0, 1], [0.1, 0.8], ids=[EVIL, EVIL_ATTR])],
    }
    bench = pd.DataFrame([{"rule": EVIL, "job": EVIL_ATTR, "seconds": 1.0, "max_rss_mb": 5.0, "finished": 1.7e9}])
    document, markup = render(inputs, sources=sources, config={"run_label": EVIL, "note": EVIL_ATTR}, benchmarks=bench)
    tags = {tag for tag, _ in markup.tags}
    assert "script" not in tags and "<script" not in document.lower()
    assert tags <= {
        "html",
        "aside",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "header",
        "h1",
        "h2",
        "h3",
        "p",
        "nav",
        "ol",
        "li",
        "a",
        "strong",
        "section",
        "div",
        "table",
        "caption",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "br",
        "span",
        "figure",
        "img",
        "figcaption",
        "dl",
        "dt",
        "dd",
        "pre",
    }
    assert not [a for _, attrs in markup.tags for a in attrs if a.startswith("on")]
    assert all(
        attrs["src"].startswith(("data:image/png;base64,", "data:image/jpeg;base64,"))
        for t, attrs in markup.tags
        if t == "img"
    )
    text = "".join(markup.text)
    assert text.count(EVIL) >= 5  # shown as text: class name, root, rejected path, config, job table
    assert EVIL_ATTR in text


def test_provenance_table_from_benchmark_files(tmp_path):
    bench = tmp_path / "benchmarks"
    (bench / "train").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    files = {
        bench / "train" / "paper_fold1.tsv": (5.5, "512.25"),
        bench / "summary.tsv": (1.5, "NA"),
        bench / "report.tsv": (9.0, "1"),
    }
    for i, (path, (seconds, rss)) in enumerate(files.items()):
        path.write_text(header + f"{seconds}\t0:00:05\t{rss}\t1\t1\t1\t1\t1\t1\t1\n")
        os.utime(path, (1_700_000_100 + 10 * i, 1_700_000_100 + 10 * i))
    table = read_benchmarks(bench, exclude=(bench / "report.tsv",))
    assert sorted(zip(table["rule"], table["job"])) == [("summary", ""), ("train", "paper_fold1")]
    train = table[table["rule"] == "train"].iloc[0]
    assert train["seconds"] == 5.5 and train["max_rss_mb"] == 512.25
    assert math.isnan(table[table["rule"] == "summary"].iloc[0]["max_rss_mb"])
    span = run_span(table)
    assert span.start == 1_700_000_100 - 5.5 and span.end == 1_700_000_110 and span.n_jobs == 2

    _, markup = render({}, benchmarks=table)
    text = " ".join(markup.text)
    assert "paper_fold1" in text and "5.50" in text and "512" in text
    assert "over 2 jobs" in text and "sum of job wall times 7.0 s" in text


def test_bad_benchmark_and_table_files_name_the_file(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(DatasetError, match=r"x\.tsv: not a Snakemake benchmark"):
        read_benchmarks(tmp_path / "b")
    bad = tmp_path / "table1_paper.tsv"
    pd.DataFrame({"fold": ["1"], "tp": [1]}).to_csv(bad, sep="\t", index=False)
    with pytest.raises(DatasetError, match=r"table1_paper\.tsv: missing columns"):
        render({"table1_paper": str(bad)})


def test_classifier_figure_counts_and_auc_match_metrics():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    preds = (scores >= 0.5).astype(int)
    result = classifier_figure(
        labels,
        preds,
        ("healthy", "ALL"),
        {"per image": RocCurve(labels, scores), "one class": RocCurve(np.ones(5, int), np.ones(5))},
    )
    assert result.png.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(result.png)).size[0] > 300
    assert result.aucs["per image"] == pytest.approx(roc_points(labels, scores)[2])
    assert result.aucs["one class"] is None
    expected = [[np.sum((labels == t) & (preds == p)) for p in (0, 1)] for t in (0, 1)]
    assert result.confusion.tolist() == expected
    three = confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], 3)
    assert three.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    with pytest.raises(ValueError, match="0..1"):
        confusion_matrix([0, 2], [0, 1], 2)


def test_unclaimed_input_key_is_logged(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="leukoflow.report.compose"):
        render({"unknown_table": png(tmp_path / "x.png")})
    assert "'unknown_table' is shown by no section" in caplog.text


def test_write_report_end_to_end_on_small_inputs(tmp_path, monkeypatch):
    monkeypatch.setattr(
        report_provenance, "device_description", lambda: {"cpu": "stub"}
    )  # keeps torch out of this test
    inputs = {
        "sources": [source(tmp_path, "allidb2")],
        "table1_leak_free": table1(tmp_path, "leak_free"),
        "curves_leak_free": png(tmp_path / "curves.png"),
    }
    out = tmp_path / "report" / "index.html"
    document = write_report(
        inputs=inputs,
        config={"results": "results", "x": [1, 2]},
        workflow_dir=str(tmp_path),
        benchmarks_dir=str(tmp_path / "none"),
        html_out=str(out),
    )
    assert out.read_text() == document
    markup = Markup(document)
    assert section_ids(markup) == ["sources", "allidb2", "provenance"]
    assert "x:\n- 1\n- 2" in document  # config as YAML
    assert git_commit(tmp_path) == "unknown"  # not a git checkout


# ---------------------------------------------------------------------------------------------
# ALL-IDB1 sections

PAPER = {
    "table1": {"source": "Ghosh 2017", "per_fold": {"tp": 936, "tn": 936, "fp": 0, "fn": 0}},
    "table2": {
        "source": "Ghosh 2017 Table II",
        "values": {
            "tp": 49,
            "tn": 56,
            "fp": 3,
            "fn": 0,
            "accuracy": 0.9722,
            "specificity": 0.9492,
            "sensitivity": 1.0,
            "f_score": 0.9703,
        },
    },
    "cnn50": {"source": "Khandelwal", "values": {"accuracy": 0.928}},
}


def render_with_paper(inputs: dict, sources: dict | None = None) -> tuple[str, Markup]:
    context = ReportContext(sources=sources or {}, provenance=provenance())
    document = render_report(ReportInputs(inputs), context)
    return document, Markup(document)


def table2_file(tmp: Path, accuracy=(0.6, 0.2307, 0.8824)) -> str:
    row = {"data": "synthetic", "subset": "all scored slides", "n_slides": 5, "tp": 3, "tn": 0, "fp": 2, "fn": 0}
    for name, value in (
        ("accuracy", accuracy),
        ("specificity", (0.0, 0.0, 0.6576)),
        ("sensitivity", (1.0, 0.4385, 1.0)),
        ("f_score", (0.75, 0.3333, 1.0)),
    ):
        row.update({name: value[0], f"{name}_ci_low": value[1], f"{name}_ci_high": value[2]})
    row.update({f"paper_{k}": v for k, v in PAPER["table2"]["values"].items()})
    path = tmp / "table2.tsv"
    pd.DataFrame([row]).to_csv(path, sep="\t", index=False)
    return str(path)


def verdicts_file(tmp: Path, rows: list[tuple]) -> str:
    """rows: (slide, label, verdict, max_prob, status)"""
    frame = pd.DataFrame(rows, columns=["slide", "label", "verdict", "max_prob", "status"])
    frame["n_patches"] = 6
    frame["n_abnormal"] = frame["verdict"] * 3
    frame["overlaps_training"] = False
    frame.loc[frame["status"] != "scored", "label"] = np.nan
    path = tmp / "slide_verdicts.tsv"
    frame.to_csv(path, sep="\t", index=False)
    return str(path)


# 3 TP, 3 TN, 5 FP, 1 FN, and one slide rejected from the manifest (never shown or counted)
SLIDES = [
    ("Im001_1", 1, 1, 0.70, "scored"),
    ("Im002_1", 1, 1, 0.90, "scored"),
    ("Im003_1", 1, 1, 0.80, "scored"),
    ("Im004_1", 1, 0, 0.30, "scored"),
    ("Im005_0", 0, 0, 0.20, "scored"),
    ("Im006_0", 0, 0, 0.10, "scored"),
    ("Im007_0", 0, 0, 0.40, "scored"),
    ("Im008_0", 0, 1, 0.55, "scored"),
    ("Im009_0", 0, 1, 0.95, "scored"),
    ("Im010_0", 0, 1, 0.60, "scored"),
    ("Im011_0", 0, 1, 0.60, "scored"),
    ("Im012_0", 0, 1, 0.75, "scored"),
    ("Im013_1", 1, 0, 0.00, "rejected from manifest"),
]


def panel_files(tmp: Path, slides, size=(40, 22)) -> dict:
    (tmp / "panels").mkdir(exist_ok=True)
    paths = {}
    for i, slide in enumerate(slides):
        path = tmp / "panels" / f"{i}.png"
        Image.new("RGBA", size, (20 * i % 255, 90, 160, 255)).save(path)
        paths[f"panel_{slide}"] = str(path)
    return paths


def cells_files(tmp: Path, slide: str = "Im001_1") -> dict:
    cells = pd.DataFrame(
        [
            {
                "data": "synthetic",
                "level": "blast detection (abnormal patch vs .xyc)",
                "tp": 7,
                "fp": 13,
                "fn": 0,
                "precision": 0.35,
                "recall": 1.0,
                "f1": 0.5185,
                "precision_ci_low": 0.1812,
                "precision_ci_high": 0.5671,
                "recall_ci_low": 0.6457,
                "recall_ci_high": 1.0,
            },
            {
                "data": "synthetic",
                "level": "white-cell localisation (any detection vs generator truth)",
                "tp": 9,
                "fn": 8,
                "recall": 0.5294,
                "recall_ci_low": 0.3096,
                "recall_ci_high": 0.7383,
            },
        ]
    )
    per_slide = pd.DataFrame(
        [
            {
                "slide": slide,
                "radius_px": 21.6049,
                "blasts": 1,
                "abnormal_patches": 5,
                "tp": 1,
                "fp": 4,
                "fn": 0,
                "white_cells": 4,
                "detections": 5,
                "located": 1,
            }
        ]
    )
    cells.to_csv(tmp / "cells.tsv", sep="\t", index=False)
    per_slide.to_csv(tmp / "cells_per_slide.tsv", sep="\t", index=False)
    return {"cells": str(tmp / "cells.tsv"), "cells_per_slide": str(tmp / "cells_per_slide.tsv")}


def cnn50_files(tmp: Path) -> dict:
    rows = [
        {
            "data": "synthetic",
            "fold": fold,
            "n_test": 4,
            "tp": 2,
            "tn": 1,
            "fp": 1,
            "fn": 0,
            "accuracy": 0.75,
            "accuracy_ci_low": 0.3006,
            "accuracy_ci_high": 0.9544,
            "test_slides_seen_in_training": 0,
            "paper_accuracy": 0.928,
        }
        for fold in ("1", "all")
    ]
    pd.DataFrame(rows).to_csv(tmp / "cnn50.tsv", sep="\t", index=False)
    pd.DataFrame(
        {
            "fold": 1,
            "slide": ["Im001_1", "Im002_1", "Im005_0", "Im006_0"],
            "label": [1, 1, 0, 0],
            "prob_all": [0.9, 0.6, 0.7, 0.1],
            "pred": [1, 1, 1, 0],
        }
    ).to_csv(tmp / "cnn50_pred.tsv", sep="\t", index=False)
    return {"cnn50": str(tmp / "cnn50.tsv"), "cnn50_predictions": str(tmp / "cnn50_pred.tsv")}


def filter_files(tmp: Path) -> dict:
    errors = np.array([0.1, 0.4, 0.1, 0.25, 0.1, 0.5, 0.3, 0.1])
    pd.DataFrame(
        {"filter": range(8), "error": errors, "baseline_error": 0.1, "error_increase": errors - 0.1, "n_patches": 20}
    ).to_csv(tmp / "blinding.tsv", sep="\t", index=False)
    return {
        "filters_blinding": str(tmp / "blinding.tsv"),
        "filters_blinding_png": png(tmp / "blinding.png"),
        "filters_js_raw": png(tmp / "js_raw.png"),
        "filters_js_sorted": png(tmp / "js_sorted.png"),
    }


def allidb1_inputs(tmp: Path) -> dict[str, dict]:
    """Each ALL-IDB1 section's own keys, by the section id they must produce."""
    return {
        "allidb1": {"table2": table2_file(tmp)},
        "allidb1-cells": cells_files(tmp),
        "allidb1-panels": panel_files(tmp, [s[0] for s in SLIDES]),
        "filters": filter_files(tmp),
        "cnn50": cnn50_files(tmp),
    }


def test_each_allidb1_section_appears_only_with_its_keys(tmp_path):
    groups = allidb1_inputs(tmp_path)
    for section, inputs in groups.items():
        _, markup = render_with_paper(inputs)
        assert section_ids(markup) == [section, "provenance"], section
    everything = {k: v for inputs in groups.values() for k, v in inputs.items()}
    everything["slide_verdicts"] = verdicts_file(tmp_path, SLIDES)
    _, markup = render_with_paper(everything)
    # The filter analysis belongs to the ALL-IDB2 network: it follows Table I, before the slides.
    assert section_ids(markup) == ["filters", "allidb1", "allidb1-cells", "allidb1-panels", "cnn50", "provenance"]
    # Slide verdicts alone: the slide-level confusion matrix and ROC, no panels without panel files.
    _, markup = render_with_paper({"slide_verdicts": everything["slide_verdicts"]})
    assert section_ids(markup) == ["allidb1", "provenance"]
    assert "allidb1-slides-roc" in markup.ids("h3") and "allidb1-table2" not in markup.ids("h3")


def test_table2_and_cnn50_show_ci_beside_paper_value(tmp_path):
    inputs = {"table2": table2_file(tmp_path), **cnn50_files(tmp_path)}
    sources = {"allidb1": json.loads(Path(source(tmp_path, "allidb1")).read_text())}
    _, markup = render_with_paper(inputs, sources)
    cells = {}
    for table_id in ("table2", "cnn50"):
        cells[table_id] = table_cells(markup, table_id)
    # Ours with its interval, the paper's under it in the same cell.
    assert format_ci(0.6, 0.2307, 0.8824) + " paper 97.22" in cells["table2"]
    assert "3 / 0 / 2 / 0 paper 49 / 56 / 3 / 0" in cells["table2"]
    assert format_ci(0.75, 0.3006, 0.9544) + " paper 92.80" in cells["cnn50"]
    text = "".join(markup.text)
    assert text.count("ALL-IDB1 (whole slides): synthetic demo data, not a reproduction") == 3  # sources, II, CNN
    assert "Table II [synthetic]" in text and "50x50 CNN on whole ALL-IDB1 images [synthetic]" in text
    pooled = [a.get("class") for t, a in markup.tags if t == "tr" and a.get("class") == "pooled"]
    assert len(pooled) == 1  # the cnn50 'all' row


def table_cells(markup: Markup, table_id: str) -> list[str]:
    """Every td's text of one table (the paper's note joined to ours with a space)."""

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.inside, self.cell, self.cells, self.depth = False, None, [], 0

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.inside = dict(attrs).get("id") == table_id
            elif tag == "td" and self.inside:
                self.cell = []
            elif tag == "br" and self.cell is not None:
                self.cell.append(" ")

        def handle_endtag(self, tag):
            if tag == "td" and self.cell is not None:
                self.cells.append("".join(self.cell).replace("\xa0", " "))
                self.cell = None
            elif tag == "table":
                self.inside = False

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    parser = Cells()
    parser.feed(markup.document)
    return parser.cells


def test_cell_level_table_has_intervals_and_the_localisation_row(tmp_path):
    _, markup = render_with_paper(cells_files(tmp_path))
    cells = table_cells(markup, "allidb1-cells")
    assert cells[:7] == [
        "blast detection (abnormal patch vs .xyc)",
        "7",
        "13",
        "0",
        format_ci(0.35, 0.1812, 0.5671),
        format_ci(1.0, 0.6457, 1.0),
        "51.85",
    ]
    # Localisation: recall only (no precision, no false positives) on synthetic data.
    assert cells[7:] == [
        "white-cell localisation (any detection vs generator truth)",
        "9",
        "",
        "8",
        "n/a",
        format_ci(0.5294, 0.3096, 0.7383),
        "n/a",
    ]
    assert table_cells(markup, "allidb1-cells-per-slide")[:2] == ["Im001_1", "21.6"]


def test_slide_level_confusion_and_auc_from_verdicts(tmp_path):
    _, markup = render_with_paper({"slide_verdicts": verdicts_file(tmp_path, SLIDES)})
    scored = [s for s in SLIDES if s[4] == "scored"]
    labels = np.array([s[1] for s in scored])
    auc = roc_points(labels, np.array([s[3] for s in scored]))[2]
    text = "".join(markup.text)
    assert f"{len(scored)} scored slides" in text and f"AUC {auc:.3f}" in text
    wrong = table_cells(markup, "allidb1-wrong")
    assert wrong[0::6] == ["Im004_1", "Im008_0", "Im009_0", "Im010_0", "Im011_0", "Im012_0"]  # FN, then FPs
    assert "Im013_1" not in text  # rejected from the manifest: neither counted nor listed


def test_panel_selection_is_deterministic_and_captioned(tmp_path):
    verdicts = allidb1_section.read_verdicts(verdicts_file(tmp_path, SLIDES))
    chosen = allidb1_section.select_panel_slides(verdicts, [s[0] for s in SLIDES])
    by_outcome = chosen.groupby("outcome", sort=False)["slide"].apply(list).to_dict()
    assert by_outcome == {
        "true positive": ["Im002_1", "Im003_1"],  # highest max P(ALL) first
        "true negative": ["Im006_0", "Im005_0"],  # lowest first
        "false positive": ["Im009_0", "Im012_0", "Im010_0", "Im011_0"],  # 4 of 5; tie 0.60 by slide id
        "false negative": ["Im004_1"],
    }
    shuffled = allidb1_section.select_panel_slides(verdicts.sample(frac=1, random_state=1), [s[0] for s in SLIDES])
    assert shuffled["slide"].tolist() == chosen["slide"].tolist()
    # A slide without a panel file is not chosen.
    assert "Im002_1" not in allidb1_section.select_panel_slides(verdicts, ["Im001_1", "Im003_1"])["slide"].tolist()

    inputs = {"slide_verdicts": verdicts_file(tmp_path, SLIDES), **panel_files(tmp_path, [s[0] for s in SLIDES])}
    document, markup = render_with_paper(inputs)
    section = document[document.index("<section id='allidb1-panels'>") :]
    section = section[: section.index("</section>")]
    captions = Markup(section)
    assert sum(t == "img" for t, _ in captions.tags) == sum(t == "figcaption" for t, _ in captions.tags) == 9
    assert (
        "Im009_0: label healthy. Verdict ALL (false positive), 6 patches, 3 abnormal, max P(ALL) 0.950."
        in captions.text
    )
    assert "Im008_0" not in "".join(captions.text)  # the fifth false positive is left out


def test_panels_are_embedded_downscaled_as_jpeg(tmp_path):
    inputs = panel_files(tmp_path, ["Im001_1"], size=(2400, 1320))
    _, markup = render_with_paper(inputs)
    [src] = [a["src"] for t, a in markup.tags if t == "img"]
    assert src.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    assert image.format == "JPEG" and image.size == (allidb1_section.PANEL_WIDTH_PX, 660)
    small = report_html.downscaled_image_uri(panel_files(tmp_path, ["Im002_1"], size=(300, 100))["panel_Im002_1"])
    assert Image.open(io.BytesIO(base64.b64decode(small.split(",", 1)[1]))).size == (300, 100)  # never enlarged
    bad = tmp_path / "panel.png"
    bad.write_bytes(b"GIF89a not a png")
    with pytest.raises(DatasetError, match=r"panel\.png: not a PNG"):
        report_html.downscaled_image_uri(bad)


def test_filter_section_lists_the_most_harmful_filters(tmp_path):
    _, markup = render_with_paper(filter_files(tmp_path))
    cells = table_cells(markup, "filters-top")
    assert cells[0::3] == ["5", "1", "6", "3"]  # by error increase; filters that do not matter left out
    assert cells[1:3] == ["50.00", "40.00"]
    text = "".join(markup.text)
    assert "8 filters, 20 patches" in text and "4 filters raise the error" in text
    assert sum(t == "img" for t, _ in markup.tags) == 3
    assert "ALL-IDB2 (single-cell crops): data source unknown" in text  # the network's data, stated
    harmless = tmp_path / "harmless.tsv"
    pd.read_csv(filter_files(tmp_path)["filters_blinding"], sep="\t").assign(error_increase=0.0).to_csv(
        harmless, sep="\t", index=False
    )
    _, markup = render_with_paper({"filters_blinding": str(harmless)})
    assert "filters-top" not in markup.ids("table") and "0 filters raise the error" in "".join(markup.text)


def test_allidb1_slide_ids_and_levels_are_escaped(tmp_path):
    slides = [(EVIL, 0, 1, 0.9, "scored"), (EVIL_ATTR, 1, 1, 0.8, "scored")]
    inputs = {
        "slide_verdicts": verdicts_file(tmp_path, slides),
        **panel_files(tmp_path, [EVIL, EVIL_ATTR]),
        **cells_files(tmp_path, slide=EVIL),
    }
    document, markup = render_with_paper(inputs)
    assert "<script" not in document.lower() and "script" not in {t for t, _ in markup.tags}
    assert not [a for _, attrs in markup.tags for a in attrs if a.startswith("on")]
    text = "".join(markup.text)
    assert f"{EVIL}: label healthy. Verdict ALL (false positive)" in text
    assert text.count(EVIL) >= 3 and EVIL_ATTR in text  # caption, misclassified table, per-slide table
    assert {a.get("alt") for t, a in markup.tags if t == "img"} >= {f"panel {EVIL}", f"panel {EVIL_ATTR}"}


def test_real_allidb1_carries_the_training_overlap_warning(tmp_path):
    sources = {"allidb1": json.loads(Path(source(tmp_path, "allidb1", "real", root="/srv/ALL_IDB1")).read_text())}
    _, markup = render_with_paper({"slide_verdicts": verdicts_file(tmp_path, SLIDES)}, sources)
    text = "".join(markup.text)
    assert "ALL-IDB1 (whole slides): real data from /srv/ALL_IDB1" in text
    assert "ALL-IDB2 crops are cut from ALL-IDB1 slides" in text and "Slides marked as overlapping: 0." in text
    _, markup = render_with_paper({"slide_verdicts": verdicts_file(tmp_path, SLIDES)})
    assert "ALL-IDB2 crops are cut" not in "".join(markup.text)  # synthetic slides share no cells


def test_summary_lists_each_headline_beside_the_paper_and_links_to_its_section(tmp_path):
    _, markup = render({})
    assert "summary" not in markup.ids("aside")  # nothing to summarise: no table

    inputs = {"table1_leak_free": table1(tmp_path, "leak_free"), "table2": table2_file(tmp_path)}
    sources = {"allidb2": {"source": "synthetic"}, "allidb1": {"source": "real"}}
    _, markup = render(inputs, sources=sources)
    assert markup.ids("aside") == ["summary"]
    cells = table_cells(markup, "summary-table")
    assert cells == [
        "ALL-IDB2",
        "Table I accuracy %, leak-free",
        format_ci(0.9, 0.6, 0.95),
        "97.2",
        "synthetic",
        "ALL-IDB1",
        "Table II accuracy %",
        format_ci(0.6, 0.2307, 0.8824),
        "97.2",  # PAPER's Table II accuracy, 0.9722
        "real",
    ]
    links = [attrs.get("href") for tag, attrs in markup.tags if tag == "a"]
    assert "#allidb2" in links and "#allidb1" in links
