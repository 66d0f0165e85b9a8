"""Dataset summary: counts per class and split, image sizes, and a contact sheet per dataset."""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from leukoflow.core.io import read_rgb, write_table_atomic, write_text_atomic
from leukoflow.data.datasets import DATASET_TITLES
from leukoflow.data.manifest import read_manifest, read_source
from leukoflow.report.html import data_statement
from leukoflow.report.plotting import pyplot, save_figure

log = logging.getLogger(__name__)


def class_counts(dataset: str, manifest: pd.DataFrame) -> pd.DataFrame:
    """Images per class and split (split 'all' when the dataset defines none)."""
    split = manifest["split"].replace("", "all") if "split" in manifest else "all"
    counts = (
        manifest.assign(split=split)
        .groupby(["split", "class_name"], sort=True)
        .agg(images=("id", "size"), sources=("source_id", "nunique"))
        .reset_index()
    )
    counts.insert(0, "dataset", dataset)
    return counts


def size_counts(dataset: str, manifest: pd.DataFrame) -> pd.DataFrame:
    sizes = manifest.groupby(["width", "height"]).size().rename("images").reset_index()
    sizes.insert(0, "dataset", dataset)
    return sizes.sort_values("images", ascending=False)


def pick_examples(manifest: pd.DataFrame, per_class: int, seed: int) -> pd.DataFrame:
    """A reproducible sample of up to `per_class` images of each class."""
    rng = np.random.default_rng(seed)
    picks = []
    for _, group in manifest.groupby("class_name", sort=True):
        order = rng.permutation(len(group))[:per_class]
        picks.append(group.iloc[np.sort(order)])
    return pd.concat(picks) if picks else manifest.iloc[:0]


def thumbnail(path: str, size: int) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(read_rgb(path))
    image.thumbnail((size, size))
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return np.asarray(canvas)


# Contact-sheet layout, in inches and points. A column is wide enough for its thumbnail; the
# figure is at least wide enough for a two-line title; long ids and titles wrap instead of being cut.
SHEET_COLUMN_IN = 1.6
SHEET_MIN_WIDTH_IN = 4.0
SHEET_TITLE_PT = 10
SHEET_ID_PT = 6
CHAR_WIDTH_EM = 0.6  # average glyph width of DejaVu Sans, in em: how many characters fit a line


def wrap_label(text: str, width_in: float, fontsize: float) -> str:
    """`text` broken into lines that fit `width_in` inches at `fontsize` points: after a '/' or a
    space where one falls in the line, inside a word only when the word is longer than a line."""
    chars = max(8, int(width_in * 72 / (CHAR_WIDTH_EM * fontsize)))
    pieces = re.findall(r"[^/\s]*[/\s]|[^/\s]+", text)  # each piece ends at its break point
    lines = [""]
    for piece in pieces:
        if len(lines[-1]) + len(piece.rstrip()) > chars and lines[-1]:
            lines.append("")
        while len(piece.rstrip()) > chars:  # a word longer than a line: cut it
            lines[-1], piece = piece[:chars], piece[chars:]
            lines.append("")
        lines[-1] += piece
    return "\n".join(line.rstrip() for line in lines)


def write_contact_sheet(
    manifest: pd.DataFrame, out_png: str, title: str, per_class: int, thumb_px: int, seed: int
) -> None:
    plt = pyplot()

    examples = pick_examples(manifest, per_class, seed)
    classes = sorted(examples["class_name"].unique())
    # As many columns as the fullest class fills: a dataset with fewer images leaves no empty column.
    cols = max(1, min(per_class, int(examples["class_name"].value_counts().max()) if len(examples) else 1))
    width = max(SHEET_MIN_WIDTH_IN, SHEET_COLUMN_IN * cols)
    title = wrap_label(title, width - 0.2, SHEET_TITLE_PT)
    title_in = (title.count("\n") + 1) * SHEET_TITLE_PT * 1.3 / 72
    # Constrained layout reserves room for the (wrapped) suptitle, the id lines and the class names.
    fig, axes = plt.subplots(
        len(classes),
        cols,
        figsize=(width, 2.0 * len(classes) + title_in + 0.2),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.ravel():
        ax.axis("off")
    for row, class_name in enumerate(classes):
        subset = examples[examples["class_name"] == class_name]
        for col, (_, item) in enumerate(subset.iterrows()):
            ax = axes[row, col]
            ax.imshow(thumbnail(item["path"], thumb_px))
            ax.set_title(wrap_label(str(item["id"]), width / cols - 0.1, SHEET_ID_PT), fontsize=SHEET_ID_PT)
        axes[row, 0].text(
            -0.1,
            0.5,
            class_name,
            transform=axes[row, 0].transAxes,
            rotation=90,
            va="center",
            ha="right",
            fontsize=9,
        )
    fig.suptitle(title, fontsize=SHEET_TITLE_PT)
    save_figure(fig, out_png, dpi=110)


def table_html(df: pd.DataFrame) -> str:
    """A table with every cell escaped: ids and paths come from the data."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def write_summary(
    *,
    datasets: list[str],
    manifests: list[str],
    rejected: list[str],
    sources: list[str],
    html_out: str,
    counts_out: str,
    sizes_out: str,
    rejected_out: str,
    sheet_outs: list[str],
    per_class: int,
    thumbnail_px: int,
    seed: int,
) -> None:
    counts, sizes, rejects, sections = [], [], [], []
    for dataset, manifest_path, rejected_path, source_path, sheet in zip(
        datasets, manifests, rejected, sources, sheet_outs
    ):
        manifest = read_manifest(manifest_path)
        source = read_source(source_path)
        dataset_counts = class_counts(dataset, manifest)
        dataset_sizes = size_counts(dataset, manifest)
        rejected_rows = pd.read_csv(rejected_path, sep="\t", dtype=str, keep_default_na=False)
        counts.append(dataset_counts)
        sizes.append(dataset_sizes)
        rejects.append(rejected_rows)
        title = DATASET_TITLES.get(dataset, dataset)
        label = " [SYNTHETIC]" if source["source"] == "synthetic" else ""
        write_contact_sheet(manifest, sheet, title + label, per_class, thumbnail_px, seed)
        sections.append(
            f"<section><h2>{html.escape(title)}{html.escape(label)}</h2>"
            f"<p class='source'>{html.escape(data_statement(source, title))}</p>"
            f"<p>{len(manifest)} images, {len(rejected_rows)} rejected.</p>"
            f"<h3>Images per class and split</h3>{table_html(dataset_counts.drop(columns='dataset'))}"
            f"<h3>Image sizes (width x height)</h3>{table_html(dataset_sizes.drop(columns='dataset'))}"
            f"<h3>Sample images</h3><img src='{html.escape(Path(sheet).name)}' "
            f"alt='contact sheet {html.escape(dataset)}'>"
            + (f"<h3>Rejected files</h3>{table_html(rejected_rows)}" if len(rejected_rows) else "")
            + "</section>"
        )
    write_table_atomic(pd.concat(counts, ignore_index=True), counts_out)
    write_table_atomic(pd.concat(sizes, ignore_index=True), sizes_out)
    all_rejected = (
        pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=["dataset", "path", "problem"])
    )
    write_table_atomic(all_rejected, rejected_out)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>leukoflow dataset summary</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
        "font-size:13px}img{max-width:100%}.source{background:#fff4d6;padding:.4em}</style>"
        "</head><body><h1>Dataset summary</h1>" + "".join(sections) + "</body></html>\n"
    )
    write_text_atomic(html_out, page)
    log.info("summary of %d datasets written to %s", len(datasets), html_out)
