"""Slide verdicts, Table II (Ghosh et al. 2017), cell-level detection and heatmap localisation for
ALL-IDB1, one set of rows per slide method (`methods.METHODS`) beside the paper's values.

Slide level: a slide is called ALL when it holds at least k abnormal patches (k = 1 is the
ALL-IDB benchmark rule, "positive if it contains at least one blast"). Table II has one row per
method and subset of slides (all scored slides; with `overlap.mode: separate` the slides known to
share cells with the training crops apart; further subsets, e.g. slides no model has seen, come in
through `extra_subsets`). Cell level, which the paper could not report: abnormal patch centres
matched one-to-one to the `.xyc` blast centroids within `match_radius_cells` white-cell diameters
of the slide; on synthetic data the generator's truth also gives the localisation recall of every
white cell. Heatmap localisation: the per-slide measures of `localisation`, pooled over slides
from their histograms.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from leukoflow.allidb1.files import diameters, load_npz, read_tables
from leukoflow.allidb1.localisation import MEASURES, auc_from_histograms
from leukoflow.allidb1.paper import TABLE2
from leukoflow.core.evaluation import COUNTS, binary_row
from leukoflow.core.io import write_table_atomic
from leukoflow.core.matching import cell_metrics, match_points
from leukoflow.core.metrics import BINARY_METRIC_NAMES, wilson_interval
from leukoflow.data.readers.allidb1 import read_xyc

log = logging.getLogger(__name__)

OVERLAP_NOTE = (
    "ALL-IDB2 crops are cut from ALL-IDB1 slides, so the network classifying these slides may have "
    "trained on some of their cells; slide-level numbers can be optimistic."
)
UNSEEN_SUBSET = "slides unseen by the models"
POOLED = "pooled"


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


def table2_rows(
    verdicts: pd.DataFrame, paper: dict, mode: str, extra_subsets: Mapping[str, Sequence[str]] | None = None
) -> pd.DataFrame:
    """Table II rows of one method: all scored slides, or (mode `separate`) slides apart from
    training and the rest; then one row per `extra_subsets` entry (name -> slide ids)."""
    scored = verdicts[verdicts["status"] == "scored"]
    groups = [("all scored slides", scored)]
    if mode == "separate" and scored["overlaps_training"].any():
        groups = [
            ("slides not in training", scored[~scored["overlaps_training"]]),
            ("slides overlapping training", scored[scored["overlaps_training"]]),
        ]
    groups += [(name, scored[scored["slide"].isin(list(ids))]) for name, ids in (extra_subsets or {}).items()]
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
    radius_px: Mapping[str, float],
    truth: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-slide and pooled matching of abnormal patches to `.xyc` blasts within each slide's
    radius `radius_px[slide]` (and, with the generator's truth, of every detection to every
    white cell)."""
    per_slide = []
    annotations = manifest.set_index("id")["annotation"]
    for slide in verdicts.loc[verdicts["status"] == "scored", "slide"]:
        radius = float(radius_px[slide])
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


def localisation_table(tables: Sequence[str], histogram_files: Sequence[str]) -> pd.DataFrame:
    """Per-slide heatmap measures of one method and a `pooled` row from the summed histograms, with
    the number of slides and of slides whose map the calibration inverted."""
    per_slide = read_tables(tables)
    summed: dict[str, np.ndarray] = {}
    for path in histogram_files:
        for key, counts in load_npz(path)[0].items():
            measure = key.rpartition("/")[2]
            summed[measure] = summed.get(measure, 0) + counts
    pooled = {"slide": POOLED, **{m: auc_from_histograms(summed[m]) if m in summed else np.nan for m in MEASURES}}
    if "pixel_auc_in_eosin" in summed:  # white-cell pixels among all eosin-positive ones
        pooled["white_cell_share_of_eosin"] = float(
            summed["pixel_auc_in_eosin"][0].sum() / summed["pixel_auc_in_eosin"].sum()
        )
    for column in ("heat_in_eosin", "heat_outside_eosin"):
        if column in per_slide:
            pooled[column] = float(per_slide[column].mean())
    pooled["slides"] = len(per_slide)
    pooled["inverted_slides"] = int((per_slide["polarity"] < 0).sum()) if "polarity" in per_slide else 0
    pooled["calibrated"] = bool(per_slide["calibrated"].any()) if "calibrated" in per_slide else False
    return pd.concat([per_slide, pd.DataFrame([pooled])], ignore_index=True)


def write_table2(
    *,
    manifest: pd.DataFrame,
    methods: Sequence[str],
    patch_paths: Mapping[str, Sequence[str]],
    localisation_paths: Mapping[str, Sequence[str]],
    histogram_paths: Mapping[str, Sequence[str]],
    cell_sizes_path: str,
    slides: Sequence[str],
    settings: dict,
    source: dict,
    truth: pd.DataFrame | None,
    verdicts_out: str,
    table_out: str,
    cells_out: str,
    cells_per_slide_out: str,
    localisation_out: str,
    paper: dict = TABLE2,
    unseen: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Slide verdicts, Table II, cell-level and localisation tables (TSV, a `method` column in
    each); `report_section` renders them.

    `unseen` maps a method to `overlap.unseen_slides` of the models it used (measured provenance of
    the ALL-IDB2 crops): its columns join the verdicts, and Table II gains a row for the slides none
    of those models has seen."""
    cell_sizes = read_tables(cell_sizes_path)
    radius = {s: settings["match_radius_cells"] * d for s, d in diameters(cell_sizes).items()}
    verdicts, tables, cells, per_slide, localisation = [], [], [], [], []
    for method in methods:
        patches = read_tables(patch_paths[method])
        method_verdicts = slide_verdicts(manifest, patches, slides, settings["k"])
        method_verdicts = apply_overlap(method_verdicts, settings["overlap"]["mode"], settings["overlap"]["slides"])
        method_verdicts = method_verdicts.merge(cell_sizes[["slide", "diameter_px"]], on="slide", how="left")
        extra_subsets = {}
        if unseen is not None and method in unseen:
            method_verdicts = method_verdicts.merge(unseen[method], on="slide", how="left")
            extra_subsets[UNSEEN_SUBSET] = unseen[method].loc[unseen[method]["unseen"], "slide"].tolist()
        table = table2_rows(method_verdicts, paper, settings["overlap"]["mode"], extra_subsets)
        slide_cells, pooled_cells = cell_level(method_verdicts, patches, manifest, radius, truth)
        measured = localisation_table(localisation_paths[method], histogram_paths[method])
        for frame, target in (
            (method_verdicts, verdicts),
            (table, tables),
            (pooled_cells, cells),
            (slide_cells, per_slide),
            (measured, localisation),
        ):
            target.append(frame.assign(method=method)[["method", *frame.columns]])
    data = source["source"]
    outputs = (
        (verdicts, verdicts_out),
        (tables, table_out),
        (cells, cells_out),
        (per_slide, cells_per_slide_out),
        (localisation, localisation_out),
    )
    for frames, out in outputs:
        frame = pd.concat(frames, ignore_index=True)
        if out in (table_out, cells_out, localisation_out):
            frame.insert(0, "data", data)
        write_table_atomic(frame, out)
    table = pd.concat(tables, ignore_index=True)
    for method, row in zip(methods, tables):
        log.info("Table II, %s: %s", method, row.iloc[0][["tp", "tn", "fp", "fn", "accuracy"]].to_dict())
    return table
