"""The HTML report's renderers: sections only for inputs that exist, CIs beside paper values, data
source statements, escaping of every data string, and the provenance table from benchmark files."""

from __future__ import annotations

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

from leukoflow import report
from leukoflow.errors import DatasetError
from leukoflow.metrics import roc_points
from leukoflow.report import Provenance, ReportContext, ReportInputs, render_report, write_report
from leukoflow.report_figures import RocCurve, classifier_figure, confusion_matrix
from leukoflow.report_html import format_ci
from leukoflow.report_provenance import BENCHMARK_COLUMNS, git_commit, read_benchmarks, run_span

EVIL = "<script>alert(1)</script>.tif"
EVIL_ATTR = "\"'><img src=x onerror=alert(2)>"
SHA = "ab" * 32


class Markup(HTMLParser):
    """Every live element of a page: tag names, their attributes, and the text."""

    def __init__(self, document: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
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
    path.write_text(json.dumps({
        "dataset": dataset, "source": kind, "root": root or f"/data/{dataset}", "n_images": 4, "n_rejected": 0,
        "manifest_sha256": SHA, "synthetic_seed": 3 if kind == "synthetic" else None,
    }))
    return str(path)


def table1(tmp: Path, protocol: str, leaked: int = 0, bags: str = "B1,B2,B3") -> str:
    """A Table I TSV with the columns rule table1 writes: one fold, then the pooled row."""
    rows = []
    for fold in ("1", "all"):
        row = {"protocol": protocol, "data": "synthetic", "fold": fold, "train_bags": bags if fold == "1" else "",
               "val_bag": "B4" if fold == "1" else "", "test_bag": "B5" if fold == "1" else "",
               "n_test": 10, "tp": 4, "tn": 5, "fp": 0, "fn": 1}
        for name, value in (("accuracy", 0.9), ("specificity", 1.0), ("sensitivity", 0.8), ("f_score", 0.8889)):
            row.update({name: value, f"{name}_ci_low": value - 0.3, f"{name}_ci_high": min(1.0, value + 0.05)})
        row.update({"source_accuracy": 0.5 if fold == "1" else math.nan,
                    "source_accuracy_ci_low": 0.1 if fold == "1" else math.nan,
                    "source_accuracy_ci_high": 0.9 if fold == "1" else math.nan,
                    "test_sources_seen_in_training": leaked})
        for name, value in (("tp", 936), ("tn", 936), ("fp", 0), ("fn", 0), ("accuracy", 0.9722),
                            ("specificity", 1.0), ("sensitivity", 1.0), ("f_score", 1.0)):
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
    pd.DataFrame({"row": range(len(labels)), "id": ids, "source_id": ids, "angle": 0, "mirrored": False,
                  "label": labels, "prob_all": probs, "pred": (probs >= 0.5).astype(int)}).to_csv(path, sep="\t", index=False)
    return str(path)


def summary_files(tmp: Path, datasets=("allidb2",), class_name: str = "ALL") -> dict:
    counts = pd.DataFrame([{"dataset": d, "split": "all", "class_name": c, "images": 2, "sources": 2}
                           for d in datasets for c in (class_name, "healthy")])
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
        config=config or {"results": "results"}, commit="unknown", versions={"python": "3.x", "numpy": "2"},
        device={"cpu": "test cpu", "gpu": "none"},
        benchmarks=benchmarks if benchmarks is not None else pd.DataFrame(columns=BENCHMARK_COLUMNS),
        generated_at=1_700_000_000.0, benchmarks_dir="results/benchmarks",
    )


def render(inputs: dict, sources: dict | None = None, **kwargs) -> tuple[str, Markup]:
    context = ReportContext(sources=sources or {}, paper={"table1": {"source": "Ghosh 2017", "per_fold": {"tp": 936, "tn": 936, "fp": 0, "fn": 0}}},
                            provenance=provenance(**kwargs))
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

    inputs.update(summary_files(tmp_path), predictions_paper=[predictions(tmp_path, "p", [0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6])])
    _, markup = render(inputs, sources={"allidb2": json.loads(Path(source(tmp_path, "allidb2")).read_text())})
    assert section_ids(markup) == ["sources", "datasets", "allidb2", "provenance"]
    assert [t for t, _ in markup.tags].count("img") == 2  # contact sheet, confusion/ROC


def test_table1_shows_ci_beside_paper_value_and_flags_leaky_protocol(tmp_path):
    document, markup = render({"table1_leak_free": table1(tmp_path, "leak_free"),
                               "table1_paper": table1(tmp_path, "paper", leaked=7)})
    text = " ".join(markup.text).replace("\xa0", " ")
    assert "90.00 [60.0, 95.0]" in text and "paper 97.22" in text  # ours with CI, then the paper's
    assert "paper 936 / 936 / 0 / 0" in text and "4 / 5 / 0 / 1" in text
    assert "Paper protocol (LEAKY)" in text
    assert "LEAKY: 7 test cells had rotated/mirrored copies" in text
    leak_rows = [a.get("class", "") for t, a in markup.tags if t == "tr" and "leak" in a.get("class", "")]
    assert len(leak_rows) == 2  # the leaky fold and the pooled row of the paper protocol only
    assert text.count("LEAKY:") == 1  # the leak-free protocol carries no warning


def test_synthetic_and_real_data_statements(tmp_path):
    sources = {"allidb2": json.loads(Path(source(tmp_path, "allidb2")).read_text()),
               "ukm": json.loads(Path(source(tmp_path, "ukm", "real", root="/srv/UKM-WBC")).read_text())}
    document, markup = render({"table1_leak_free": table1(tmp_path, "leak_free"),
                               **summary_files(tmp_path, ("allidb2", "ukm"))}, sources=sources)
    text = "".join(markup.text)
    assert text.count("ALL-IDB2 (single-cell crops): synthetic demo data, not a reproduction") == 3  # sources, datasets, Table I
    assert f"real data from /srv/UKM-WBC, manifest sha256 {SHA}" in text
    assert "UKM-WBC (white cells with nucleus masks): synthetic" not in text
    assert "mixed real and synthetic data" in text  # the subtitle


def test_every_data_string_is_escaped(tmp_path):
    sources = {"allidb2": json.loads(Path(source(tmp_path, "allidb2", "real", root=f"/data/{EVIL}")).read_text())}
    rejected = tmp_path / "rejected.tsv"
    pd.DataFrame([{"dataset": "allidb2", "path": f"/data/{EVIL}", "problem": EVIL_ATTR}]).to_csv(rejected, sep="\t", index=False)
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
    assert tags <= {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "nav", "ol",
                    "li", "a", "strong", "section", "div", "table", "caption", "thead", "tbody", "tr", "th", "td",
                    "br", "span", "figure", "img", "figcaption", "dl", "dt", "dd", "pre"}
    assert not [a for _, attrs in markup.tags for a in attrs if a.startswith("on")]
    assert all(attrs["src"].startswith("data:image/png;base64,") for t, attrs in markup.tags if t == "img")
    text = "".join(markup.text)
    assert text.count(EVIL) >= 5  # shown as text: class name, root, rejected path, config, job table
    assert EVIL_ATTR in text


def test_provenance_table_from_benchmark_files(tmp_path):
    bench = tmp_path / "benchmarks"
    (bench / "train").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    files = {bench / "train" / "paper_fold1.tsv": (5.5, "512.25"), bench / "summary.tsv": (1.5, "NA"),
             bench / "report.tsv": (9.0, "1")}
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
    result = classifier_figure(labels, preds, ("healthy", "ALL"), {"per image": RocCurve(labels, scores),
                                                                     "one class": RocCurve(np.ones(5, int), np.ones(5))})
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
    with caplog.at_level(logging.WARNING, logger="leukoflow.report"):
        render({"table2": png(tmp_path / "x.png")})
    assert "'table2' is shown by no section" in caplog.text


def test_write_report_end_to_end_on_small_inputs(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "device_description", lambda: {"cpu": "stub"})  # keeps torch out of this test
    inputs = {"sources": [source(tmp_path, "allidb2")], "table1_leak_free": table1(tmp_path, "leak_free"),
              "curves_leak_free": png(tmp_path / "curves.png")}
    out = tmp_path / "report" / "index.html"
    document = write_report(inputs=inputs, config={"results": "results", "x": [1, 2]}, paper={}, workflow_dir=str(tmp_path),
                            benchmarks_dir=str(tmp_path / "none"), html_out=str(out))
    assert out.read_text() == document
    markup = Markup(document)
    assert section_ids(markup) == ["sources", "allidb2", "provenance"]
    assert "x:\n- 1\n- 2" in document  # config as YAML
    assert git_commit(tmp_path) == "unknown"  # not a git checkout
