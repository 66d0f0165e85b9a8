"""Slide verdicts, Table II (Ghosh et al. 2017) and cell-level detection metrics for ALL-IDB1.

Slide level: a slide is called ALL when it holds at least k abnormal patches (k = 1 is the
ALL-IDB benchmark rule, "positive if it contains at least one blast"). Cell level, which the
paper could not report: abnormal patch centres are matched one-to-one to the `.xyc` blast
centroids within a radius (scaled to the slide's width). On synthetic data the generator's truth
also gives the localisation recall of every white cell, whatever its class.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from leukoflow.allidb1.paper import TABLE2
from leukoflow.core.evaluation import COUNTS, binary_row
from leukoflow.core.io import write_table_atomic
from leukoflow.core.matching import cell_metrics, match_points, scaled_radius
from leukoflow.core.metrics import BINARY_METRIC_NAMES, wilson_interval
from leukoflow.data.readers.allidb1 import read_xyc

log = logging.getLogger(__name__)

OVERLAP_NOTE = (
    "ALL-IDB2 crops are cut from ALL-IDB1 slides, so the network classifying these slides may have "
    "trained on some of their cells; slide-level numbers can be optimistic."
)


def slide_verdict(n_abnormal: int, k: int = 1) -> bool:
    """True (leukemic) when a slide holds at least `k` patches classified abnormal.

    k = 1 is the ALL-IDB benchmark rule (a slide is positive if it holds at least one blast).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if n_abnormal < 0:
        raise ValueError(f"n_abnormal cannot be negative, got {n_abnormal}")
    return bool(n_abnormal >= k)


def slide_verdicts(manifest: pd.DataFrame, patches: pd.DataFrame, slides: Sequence[str], k: int) -> pd.DataFrame:
    """One row per slide: label, patch counts, max patch probability, verdict, status."""
    counts = patches.groupby("slide").agg(
        n_patches=("abnormal", "size"), n_abnormal=("abnormal", "sum"), max_prob=("prob_all", "max")
    )
    table = pd.DataFrame({"slide": list(slides)}).merge(
        manifest[["id", "label", "width", "height", "n_annotations"]].rename(columns={"id": "slide"}),
        on="slide",
        how="left",
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
        verdicts.loc[verdicts["overlaps_training"] & (verdicts["status"] == "scored"), "status"] = (
            "excluded: overlaps training"
        )
    return verdicts


def table2_rows(verdicts: pd.DataFrame, paper: dict, mode: str) -> pd.DataFrame:
    """Table II rows: all scored slides, or (mode `separate`) slides apart from training and the rest."""
    scored = verdicts[verdicts["status"] == "scored"]
    groups = [("all scored slides", scored)]
    if mode == "separate" and scored["overlaps_training"].any():
        groups = [
            ("slides not in training", scored[~scored["overlaps_training"]]),
            ("slides overlapping training", scored[scored["overlaps_training"]]),
        ]
    rows = []
    for name, group in groups:
        row = binary_row(group["label"].astype(int), group["verdict"])
        row = {"subset": name, "n_slides": row.pop("n_test"), **row}
        rows.append({**row, **{f"paper_{key}": paper["values"][key] for key in (*COUNTS, *BINARY_METRIC_NAMES)}})
    return pd.DataFrame(rows)


def cell_level(
    verdicts: pd.DataFrame,
    patches: pd.DataFrame,
    manifest: pd.DataFrame,
    radius_px: float,
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
        record = {
            "slide": slide,
            "radius_px": radius,
            "blasts": len(blasts),
            "abnormal_patches": len(abnormal_xy),
            "tp": match.tp,
            "fp": match.fp,
            "fn": match.fn,
        }
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
        rows.append(
            {
                "level": "white-cell localisation (any detection vs generator truth)",
                "tp": located,
                "fn": cells - located,
                "recall": located / cells if cells else float("nan"),
                "recall_ci_low": low,
                "recall_ci_high": high,
            }
        )
    return per_slide, pd.DataFrame(rows)


def write_table2(
    *,
    manifest: pd.DataFrame,
    patch_paths: Sequence[str],
    slides: Sequence[str],
    settings: dict,
    source: dict,
    truth: pd.DataFrame | None,
    verdicts_out: str,
    table_out: str,
    cells_out: str,
    cells_per_slide_out: str,
    paper: dict = TABLE2,
) -> pd.DataFrame:
    """Slide verdicts, Table II and the cell-level tables (TSV); `report_section` renders them."""
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
    log.info("Table II: %s", table.iloc[0][["tp", "tn", "fp", "fn", "accuracy"]].to_dict())
    return table
