"""Slide verdicts, Table II (Ghosh et al. 2017) and cell-level detection metrics for ALL-IDB1.

Slide level: a slide is called ALL when it holds at least k abnormal patches (k = 1 is the
ALL-IDB benchmark rule, "positive if it contains at least one blast"). Cell level, which the
paper could not report: abnormal patch centres are matched one-to-one to the `.xyc` blast
centroids within a radius (scaled to the slide's width). On synthetic data the generator's truth
also gives the localisation recall of every white cell, whatever its class.
"""

from __future__ import annotations

import html
import logging
from typing import Sequence

import numpy as np
import pandas as pd

from leukoflow.io import write_table_atomic, write_text_atomic
from leukoflow.matching import cell_metrics, match_points, scaled_radius
from leukoflow.metrics import binary_metrics, confusion_counts, wilson_interval
from leukoflow.patches import slide_verdict
from leukoflow.readers.allidb1 import read_xyc
from leukoflow.report_html import data_statement

log = logging.getLogger(__name__)

METRICS = ("accuracy", "specificity", "sensitivity", "f_score")
OVERLAP_NOTE = (
    "ALL-IDB2 crops are cut from ALL-IDB1 slides, so the network classifying these slides may have "
    "trained on some of their cells; slide-level numbers can be optimistic."
)


def slide_verdicts(manifest: pd.DataFrame, patches: pd.DataFrame, slides: Sequence[str], k: int) -> pd.DataFrame:
    """One row per slide: label, patch counts, max patch probability, verdict, status."""
    counts = patches.groupby("slide").agg(
        n_patches=("abnormal", "size"), n_abnormal=("abnormal", "sum"), max_prob=("prob_all", "max")
    )
    table = pd.DataFrame({"slide": list(slides)}).merge(
        manifest[["id", "label", "width", "height", "n_annotations"]].rename(columns={"id": "slide"}),
        on="slide", how="left",
    )
    table["status"] = np.where(table["label"].isna(), "rejected from manifest", "scored")
    table = table.merge(counts, left_on="slide", right_index=True, how="left")
    table[["n_patches", "n_abnormal"]] = table[["n_patches", "n_abnormal"]].fillna(0).astype(int)
    table["max_prob"] = table["max_prob"].fillna(0.0)
    table["verdict"] = [int(slide_verdict(n, k)) for n in table["n_abnormal"]]
    return table


def apply_overlap(verdicts: pd.DataFrame, mode: str, overlap_slides: Sequence[str]) -> pd.DataFrame:
    """Mark slides known to share cells with the ALL-IDB2 training crops (see OVERLAP_NOTE)."""
    verdicts = verdicts.copy()
    verdicts["overlaps_training"] = verdicts["slide"].isin(list(overlap_slides))
    if mode == "exclude":
        verdicts.loc[verdicts["overlaps_training"] & (verdicts["status"] == "scored"), "status"] = "excluded: overlaps training"
    return verdicts


def table2_rows(verdicts: pd.DataFrame, paper: dict, mode: str) -> pd.DataFrame:
    scored = verdicts[verdicts["status"] == "scored"]
    groups = [("all scored slides", scored)]
    if mode == "separate" and scored["overlaps_training"].any():
        groups = [
            ("slides not in training", scored[~scored["overlaps_training"]]),
            ("slides overlapping training", scored[scored["overlaps_training"]]),
        ]
    rows = []
    for name, group in groups:
        counts = confusion_counts(group["label"].astype(int), group["verdict"])
        metrics = binary_metrics(**counts)
        row = {"subset": name, "n_slides": len(group), **counts}
        for metric in METRICS:
            for suffix in ("", "_ci_low", "_ci_high"):
                row[metric + suffix] = metrics[metric + suffix]
        for key in ("tp", "tn", "fp", "fn", *METRICS):
            row[f"paper_{key}"] = paper["values"][key]
        rows.append(row)
    return pd.DataFrame(rows)


def cell_level(
    verdicts: pd.DataFrame, patches: pd.DataFrame, manifest: pd.DataFrame, radius_px: float,
    truth: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-slide and pooled matching of abnormal patches to `.xyc` blasts (and, with the
    generator's truth, of every detection to every white cell)."""
    per_slide = []
    annotations = manifest.set_index("id")["annotation"]
    for slide in verdicts.loc[verdicts["status"] == "scored", "slide"]:
        row = verdicts.set_index("slide").loc[slide]
        radius = scaled_radius(radius_px, int(row["width"]))
        slide_patches = patches[patches["slide"] == slide]
        abnormal_xy = slide_patches.loc[slide_patches["abnormal"] == 1, ["x", "y"]].to_numpy(float)
        blasts = read_xyc(annotations[slide])
        match = match_points(abnormal_xy, blasts, radius)
        record = {"slide": slide, "radius_px": radius, "blasts": len(blasts), "abnormal_patches": len(abnormal_xy),
                  "tp": match.tp, "fp": match.fp, "fn": match.fn}
        if truth is not None:
            cells = truth.loc[truth["image_id"] == slide, ["x", "y"]].to_numpy(float)
            found = match_points(slide_patches[["x", "y"]].to_numpy(float), cells, radius)
            record.update(white_cells=len(cells), detections=len(slide_patches), located=found.tp)
        per_slide.append(record)
    per_slide = pd.DataFrame(per_slide)
    pooled = {"level": "blast detection (abnormal patch vs .xyc)"}
    if len(per_slide):
        tp, fp, fn = (int(per_slide[c].sum()) for c in ("tp", "fp", "fn"))
        pooled.update(cell_metrics(tp, fp, fn))
        pooled["precision_ci_low"], pooled["precision_ci_high"] = wilson_interval(tp, tp + fp)
        pooled["recall_ci_low"], pooled["recall_ci_high"] = wilson_interval(tp, tp + fn)
    rows = [pooled]
    if truth is not None and len(per_slide):
        located, cells = int(per_slide["located"].sum()), int(per_slide["white_cells"].sum())
        low, high = wilson_interval(located, cells)
        rows.append({"level": "white-cell localisation (any detection vs generator truth)",
                     "tp": located, "fn": cells - located, "recall": located / cells if cells else float("nan"),
                     "recall_ci_low": low, "recall_ci_high": high})
    return per_slide, pd.DataFrame(rows)


def _pct(value, low=None, high=None) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    text = f"{100 * value:.2f}"
    if low is not None and not pd.isna(low):
        text += f" ({100 * low:.1f}–{100 * high:.1f})"
    return text


def table2_html(table: pd.DataFrame, cells: pd.DataFrame, statement: str, paper_source: str, notes: Sequence[str]) -> str:
    head = ["Subset", "Slides", "TP", "TN", "FP", "FN"]
    for metric in METRICS:
        head += [f"{metric.replace('_', '-').capitalize()} % (95% CI)", "paper"]
    body = []
    for _, row in table.iterrows():
        cells_ = [row["subset"], row["n_slides"], row["tp"], row["tn"], row["fp"], row["fn"]]
        for metric in METRICS:
            cells_ += [_pct(row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]), _pct(row[f"paper_{metric}"])]
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells_) + "</tr>")
    paper_counts = table.iloc[0] if len(table) else None
    cell_rows = []
    for _, row in cells.iterrows():
        cell_rows.append(
            "<tr>" + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (
                    row["level"],
                    _pct(row.get("precision"), row.get("precision_ci_low"), row.get("precision_ci_high")),
                    _pct(row.get("recall"), row.get("recall_ci_low"), row.get("recall_ci_high")),
                    _pct(row.get("f1")),
                )
            ) + "</tr>"
        )
    return (
        "<h3>Table II — slide-level detection (ALL-IDB1)</h3>"
        f"<p class='source'>{html.escape(statement)}</p>"
        + "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)
        + "<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
        + "".join(body) + "</tbody></table>"
        + f"<p class='note'>Paper values: {html.escape(paper_source)}"
        + (f" (TP {paper_counts['paper_tp']}, TN {paper_counts['paper_tn']}, FP {paper_counts['paper_fp']}, "
           f"FN {paper_counts['paper_fn']})." if paper_counts is not None else ".")
        + "</p><h3>Cell-level detection (not reported by the paper)</h3>"
        "<table><thead><tr><th>Level</th><th>Precision % (95% CI)</th><th>Recall % (95% CI)</th><th>F1 %</th></tr></thead><tbody>"
        + "".join(cell_rows) + "</tbody></table>"
    )


def write_table2(
    *, manifest: pd.DataFrame, patch_paths: Sequence[str], slides: Sequence[str], settings: dict, paper: dict,
    source: dict, truth: pd.DataFrame | None, verdicts_out: str, table_out: str, cells_out: str,
    cells_per_slide_out: str, html_out: str,
) -> pd.DataFrame:
    patches = pd.concat([pd.read_csv(p, sep="\t", dtype={"slide": str}) for p in patch_paths], ignore_index=True)
    verdicts = slide_verdicts(manifest, patches, slides, settings["k"])
    verdicts = apply_overlap(verdicts, settings["overlap"]["mode"], settings["overlap"]["slides"])
    table = table2_rows(verdicts, paper, settings["overlap"]["mode"])
    data = source["source"]
    table.insert(0, "data", data)
    per_slide, cells = cell_level(verdicts, patches, manifest, settings["match_radius"], truth)
    cells.insert(0, "data", data)
    write_table_atomic(verdicts, verdicts_out)
    write_table_atomic(table, table_out)
    write_table_atomic(cells, cells_out)
    write_table_atomic(per_slide, cells_per_slide_out)
    statement = data_statement(source, "ALL-IDB1")
    notes = [OVERLAP_NOTE] if data == "real" else []
    rejected = verdicts.loc[verdicts["status"] != "scored", "slide"].tolist()
    if rejected:
        notes.append(f"Not scored: {', '.join(rejected)}.")
    write_text_atomic(html_out, table2_html(table, cells, statement, paper["source"], notes))
    log.info("Table II: %s", table.iloc[0][["tp", "tn", "fp", "fn", "accuracy"]].to_dict())
    return table
