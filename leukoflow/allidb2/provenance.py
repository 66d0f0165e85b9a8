"""Where each ALL-IDB2 crop was cut from in ALL-IDB1: a normalised cross-correlation search.

No public list says which ALL-IDB1 slide each ALL-IDB2 crop comes from, but a crop is a piece of
its slide, so its normalised cross-correlation (NCC) with the slide region it was cut from is
close to 1 while every other slide scores far lower. The search (docs/provenance.md):

1. coarse: crops and slides in grey, shrunk by block means over `coarse_factor` pixels; the best
   NCC offset of every crop in every slide, by FFT (`core.ncc.match_all`: each slide transformed
   once, every crop correlated with it in one pass, the crops' spectra computed once per slide size);
2. refine: for each crop, the `candidates` slides with the highest coarse scores, searched again
   at full resolution within `refine_radius` pixels of the coarse position (`core.ncc.match_near`);
3. verdict: `matched` when the best refined score is at least `matched` and beats the second-best
   slide's refined score by at least `margin`; `not found` below `not_found`; `ambiguous` otherwise.

Output (one row per crop, sorted by crop): crop, label, width, height, slide, x, y (top-left corner
of the crop in that slide), score, second_slide, second_score, coarse_score, verdict. `slide`, `x`,
`y` name the best candidate whatever the verdict: read them as provenance only where the verdict is
`matched` (or, conservatively, `ambiguous`: see `allidb2.bags.crop_groups`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.core.io import read_rgb, read_tsv, write_table_atomic
from leukoflow.core.ncc import TemplateBank, block_mean, match_all, match_near, to_grey
from leukoflow.data.manifest import read_manifest

log = logging.getLogger(__name__)

MATCHED, AMBIGUOUS, NOT_FOUND = "matched", "ambiguous", "not found"
VERDICTS = (MATCHED, AMBIGUOUS, NOT_FOUND)
COLUMNS = [
    "crop",
    "label",
    "width",
    "height",
    "slide",
    "x",
    "y",
    "score",
    "second_slide",
    "second_score",
    "coarse_score",
    "verdict",
]
TRUTH_TOLERANCE_PX = 3  # a planted crop counts as recovered on its slide within this many pixels


@dataclass(frozen=True)
class ProvenanceSettings:
    """`allidb2.provenance` in the config (see the schema for each value's reason)."""

    coarse_factor: int = 8
    candidates: int = 3
    refine_radius: int = 16
    matched: float = 0.97
    margin: float = 0.05
    not_found: float = 0.95
    figure_crops: int = 6

    @classmethod
    def from_config(cls, section: dict) -> ProvenanceSettings:
        known = {f.name for f in fields(cls)}
        settings = cls(**{key: value for key, value in section.items() if key in known})
        if settings.not_found > settings.matched:
            raise ConfigError(
                f"allidb2.provenance: not_found ({settings.not_found}) must not exceed matched ({settings.matched})"
            )
        if settings.refine_radius < settings.coarse_factor:
            raise ConfigError(
                f"allidb2.provenance.refine_radius: {settings.refine_radius} px cannot cover the coarse grid of "
                f"{settings.coarse_factor} px; use at least coarse_factor (twice is safe)"
            )
        return settings


JPEG_SCALES = (1, 2, 4, 8)  # scales libjpeg decodes at in the DCT domain


def read_grey(path: str, factor: int = 1) -> np.ndarray:
    """A grey (luma) image, shrunk by block means over `factor` pixels (`core.ncc.block_mean`).

    JPEGs (the slides) are decoded straight to their luma channel (Y of YCbCr: the BT.601
    weights of `core.ncc.to_grey`) and, for factors 2, 4 and 8, at reduced scale in the DCT
    domain, where each pixel is its block's mean: 5-10 times faster than decoding RGB, and within
    about one grey level of `block_mean(to_grey(rgb))`. Other files and factors decode fully.
    """
    if Path(path).suffix.lower() in (".jpg", ".jpeg") and factor in JPEG_SCALES:
        try:
            with Image.open(path) as image:
                width, height = image.size
                scaled = (-(-width // factor), -(-height // factor))
                image.draft("L", scaled)
                if image.size == scaled:
                    grey = np.asarray(image if image.mode == "L" else image.convert("L"), dtype=np.float32)
                    return grey[: height // factor, : width // factor]
        except (OSError, ValueError) as error:
            raise DatasetError(path, f"cannot decode image ({error})") from error
    return block_mean(to_grey(read_rgb(path)), factor)


def coarse_search(
    crops: list[np.ndarray], slides: pd.DataFrame, factor: int, workers: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best coarse NCC (and its full-resolution top-left corner) of every crop in every slide.

    Slides are visited grouped by size, so the crops' spectra are computed once per size.

    Returns
    -------
    scores, rows, cols : numpy.ndarray
        Shape (crops, slides) in the row order of `slides`; -inf / -1 where a crop cannot fit.
    """
    bank = TemplateBank([block_mean(crop, factor) for crop in crops])
    shape = (len(crops), len(slides))
    scores, rows, cols = np.full(shape, -np.inf), np.full(shape, -1), np.full(shape, -1)
    order = np.lexsort((slides["id"].to_numpy(), slides["width"].to_numpy(), slides["height"].to_numpy()))
    from leukoflow.runtime.progress import Progress

    progress = Progress("provenance coarse search", len(order), log, unit="slides")
    for column in order:
        coarse = read_grey(slides["path"].iloc[column], factor)
        found = match_all(coarse, bank, workers=workers)
        scores[:, column] = found[0]
        rows[:, column] = np.where(found[1] >= 0, found[1] * factor, -1)
        cols[:, column] = np.where(found[2] >= 0, found[2] * factor, -1)
        progress.advance()
    return scores, rows, cols


def refine(
    crops: list[np.ndarray],
    slides: pd.DataFrame,
    coarse: tuple[np.ndarray, np.ndarray, np.ndarray],
    candidates: int,
    radius: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-resolution NCC of each crop in its `candidates` best coarse slides, near the coarse
    position; every slide is decoded at most once more.

    Returns
    -------
    scores, rows, cols : numpy.ndarray
        Shape (crops, slides); NaN / -1 for pairs that were not refined.
    """
    coarse_scores, coarse_rows, coarse_cols = coarse
    shape = coarse_scores.shape
    scores, rows, cols = np.full(shape, np.nan), np.full(shape, -1), np.full(shape, -1)
    ranked = np.argsort(-coarse_scores, axis=1, kind="stable")[:, :candidates]
    chosen = np.zeros(shape, dtype=bool)
    np.put_along_axis(chosen, ranked, True, axis=1)
    chosen &= np.isfinite(coarse_scores)
    from leukoflow.runtime.progress import Progress

    columns = np.flatnonzero(chosen.any(axis=0))
    progress = Progress("provenance refinement", len(columns), log, unit="slides")
    for column in columns:
        progress.advance()
        slide = read_grey(slides["path"].iloc[column])
        for crop_index in np.flatnonzero(chosen[:, column]):  # a few crops per slide, each a small FFT
            scores[crop_index, column], rows[crop_index, column], cols[crop_index, column] = match_near(
                slide,
                crops[crop_index],
                coarse_rows[crop_index, column],
                coarse_cols[crop_index, column],
                radius,
                np.float32,  # scores move by less than 1e-6 against float64, at half the time
            )
    return scores, rows, cols


def decide(score: np.ndarray, second: np.ndarray, settings: ProvenanceSettings) -> np.ndarray:
    """Verdict per crop from its best and second-best slide scores (NaN second: no other slide)."""
    second = np.where(np.isnan(second), -np.inf, second)
    score = np.where(np.isnan(score), -np.inf, score)
    with np.errstate(invalid="ignore"):  # -inf - -inf: no score at all, not matched
        matched = (score >= settings.matched) & (score - second >= settings.margin)
    return np.where(matched, MATCHED, np.where(score < settings.not_found, NOT_FOUND, AMBIGUOUS))


def locate_crops(
    crops: pd.DataFrame, slides: pd.DataFrame, settings: ProvenanceSettings, workers: int = 1
) -> pd.DataFrame:
    """The provenance table (module docstring) of the crops (`id`, `path`, `label`) in the slides
    (`id`, `path`, `width`, `height`: manifest rows)."""
    crops = crops.sort_values("id").reset_index(drop=True)
    slides = slides.sort_values("id").reset_index(drop=True)
    start = time.perf_counter()
    grey = [to_grey(read_rgb(path)) for path in crops["path"]]
    table = pd.DataFrame(
        {
            "crop": crops["id"],
            "label": crops["label"].astype(int),
            "width": [g.shape[1] for g in grey],
            "height": [g.shape[0] for g in grey],
        }
    )
    if slides.empty:
        log.warning("no ALL-IDB1 slides to search: every crop is 'not found'")
        for column in COLUMNS[4:]:
            table[column] = np.nan
        table["verdict"] = NOT_FOUND
        return table[COLUMNS]
    coarse = coarse_search(grey, slides, settings.coarse_factor, workers)
    log.info("coarse search of %d crops in %d slides: %.1f s", len(crops), len(slides), time.perf_counter() - start)
    scores, rows, cols = refine(grey, slides, coarse, settings.candidates, settings.refine_radius)
    ranking = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-ranking, axis=1, kind="stable")
    index = np.arange(len(crops))
    best, runner_up = order[:, 0], order[:, 1] if len(slides) > 1 else order[:, 0]
    has_second = (len(slides) > 1) & np.isfinite(ranking[index, runner_up])
    table["slide"] = slides["id"].to_numpy()[best]
    table["x"] = cols[index, best]
    table["y"] = rows[index, best]
    table["score"] = scores[index, best]
    table["second_slide"] = np.where(has_second, slides["id"].to_numpy()[runner_up], "")
    table["second_score"] = np.where(has_second, scores[index, runner_up], np.nan)
    table["coarse_score"] = coarse[0][index, best]
    table["verdict"] = decide(table["score"].to_numpy(), table["second_score"].to_numpy(), settings)
    log.info(
        "located %d crops in %d slides in %.1f s: %s",
        len(crops),
        len(slides),
        time.perf_counter() - start,
        table["verdict"].value_counts().to_dict(),
    )
    return table[COLUMNS]


def pick_examples(table: pd.DataFrame, count: int) -> pd.DataFrame:
    """Up to `count` matched crops, both classes where possible, spread over the crop ids."""
    matched = table[table["verdict"] == MATCHED].sort_values("crop")
    if matched.empty or count < 1:
        return matched.iloc[:0]
    alls, healthy = (matched[matched["label"] == label] for label in (1, 0))
    n_healthy = min(len(healthy), count // 2)
    n_all = min(len(alls), count - n_healthy)
    n_healthy = min(len(healthy), count - n_all)  # a class with few matches leaves room to the other
    picked = [
        rows.iloc[np.linspace(0, len(rows) - 1, n).round().astype(int)]
        for rows, n in ((alls, n_all), (healthy, n_healthy))
        if n
    ]
    return pd.concat(picked)


def read_provenance(path: str) -> pd.DataFrame:
    """A provenance table written by `write_provenance`, checked for the columns consumers use."""
    table = read_tsv(path, text_columns=("crop", "slide", "second_slide"))
    missing = [c for c in ("crop", "slide", "second_slide", "verdict") if c not in table.columns]
    if missing:
        raise DatasetError(path, f"missing columns {missing}")
    table[["slide", "second_slide"]] = table[["slide", "second_slide"]].fillna("")
    unknown = sorted(set(table["verdict"]) - set(VERDICTS))
    if unknown:
        raise DatasetError(path, f"unknown verdicts {unknown}; expected {list(VERDICTS)}")
    return table


def summarise(
    table: pd.DataFrame, n_slides: int, settings: ProvenanceSettings, truth: pd.DataFrame | None = None
) -> dict:
    """Counts for the report: crops per verdict, slides the matched crops come from and, with the
    synthetic generator's truth (`id, slide, x, y`), how much of the planted provenance came back."""
    matched = table[table["verdict"] == MATCHED]
    summary = {
        "crops": len(table),
        "slides_searched": int(n_slides),
        "matched": len(matched),
        "ambiguous": int((table["verdict"] == AMBIGUOUS).sum()),
        "not_found": int((table["verdict"] == NOT_FOUND).sum()),
        "slides_with_matches": int(matched["slide"].nunique()),
        "min_matched_score": float(matched["score"].min()) if len(matched) else np.nan,
        "matched_threshold": settings.matched,
        "margin": settings.margin,
        "not_found_threshold": settings.not_found,
    }
    if truth is not None:
        planted = truth.assign(slide=truth["slide"].fillna("").astype(str)).set_index("id")
        found = table.set_index("crop").reindex(planted.index)
        from_slide = planted["slide"] != ""
        close = (found["x"] - planted["x"]).abs().le(TRUTH_TOLERANCE_PX) & (found["y"] - planted["y"]).abs().le(
            TRUTH_TOLERANCE_PX
        )
        recovered = from_slide & (found["verdict"] == MATCHED) & (found["slide"] == planted["slide"]) & close
        summary.update(
            planted_from_slides=int(from_slide.sum()),
            planted_recovered=int(recovered.sum()),
            planted_no_slide=int((~from_slide).sum()),
            no_slide_not_found=int((~from_slide & (found["verdict"] == NOT_FOUND)).sum()),
            tolerance_px=TRUTH_TOLERANCE_PX,
        )
    return summary


def write_provenance(
    *,
    crops_manifest: str,
    slides_manifest: str,
    settings: dict,
    table_out: str,
    summary_out: str,
    truth_path: str | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """Rule allidb2_provenance: the table and its one-row summary (TSV)."""
    config = ProvenanceSettings.from_config(settings)
    slides = read_manifest(slides_manifest)
    table = locate_crops(read_manifest(crops_manifest), slides, config, workers)
    write_table_atomic(table, table_out)
    truth = read_tsv(truth_path, text_columns=("slide",)) if truth_path else None
    summary = summarise(table, len(slides), config, truth)
    write_table_atomic(pd.DataFrame([summary]), summary_out)
    log.info("provenance summary: %s", summary)
    return table


def write_provenance_figure(
    *, table_path: str, crops_manifest: str, slides_manifest: str, count: int, synthetic: bool, figure_out: str
) -> None:
    """Rule allidb2_provenance_figure: a few matched crops beside their slide regions (a rule of
    its own, so redrawing the figure never rewrites the table the bags depend on)."""
    from leukoflow.allidb2.provenance_figure import draw_matches

    tag = " [synthetic]" if synthetic else ""
    title = f"ALL-IDB2 crops (top) found in ALL-IDB1 slides (bottom){tag}"
    examples = pick_examples(read_provenance(table_path), count)
    draw_matches(examples, read_manifest(crops_manifest), read_manifest(slides_manifest), figure_out, title)
