"""Rule screen_report: every group's tables and files -> `results/screen/` and its review page.

    results/screen/cells.tsv              one row per white cell (all groups)
    results/screen/images.tsv             one row per image, in review order
    results/screen/overlays/<image>.png   boxes coloured by verdict, P(ALL) beside each
    results/screen/geojson/<image>.geojson   QuPath detections
    results/screen/index.html             one page, no server, no script: images ranked by what
                                          a reviewer should see first, the abnormal cells' gallery

Overlays and GeoJSON are hard links to the group jobs' files (copies where the file system has
no links), so nothing is drawn twice.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from leukoflow.report.html import Section, esc, frame_table, page, paragraph
from leukoflow.screen.files import CELL_COLUMNS, IMAGE_COLUMNS, VERDICTS, read_group_tables, verdict_order

log = logging.getLogger(__name__)

THUMB_PX = 260
GALLERY_LIMIT = 240  # our choice: the page stays a few MB however many blasts a run finds
MEANING = (
    "Research use only. A verdict ranks smears for a person to look at; it is not a diagnosis. "
    "`ALL` means at least one white cell scored by the models at or above the threshold; `healthy` means no "
    "such cell among those found; `not assessed` means the models were not asked, because the smear is unlike "
    "their training data, its scale could not be measured, or no white cell was found (the reason is given)."
)


def _link_tree(sources: Sequence[str | Path], name: str, target: str | Path) -> int:
    """Hard-link (or copy) every file of `<source>/<name>/` into `target`, built beside it and
    renamed into place. Returns the number of files."""
    target = Path(target)
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    count = 0
    for source in sources:
        for path in sorted((Path(source) / name).glob("*")):
            try:
                os.link(path, staging / path.name)
            except OSError:
                shutil.copyfile(path, staging / path.name)
            count += 1
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return count


def _jpeg_uri(rgb: np.ndarray, width: int, quality: int = 72) -> str:
    from PIL import Image

    image = Image.fromarray(rgb)
    if image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnail(png: Path) -> str:
    from PIL import Image

    with Image.open(png) as image:
        return _jpeg_uri(np.asarray(image.convert("RGB")), THUMB_PX)


def render_page(
    images: pd.DataFrame, cells: pd.DataFrame, gallery: Mapping[str, np.ndarray], overlays: Path, labels: Mapping
) -> str:
    counts = images["verdict"].value_counts()
    summary = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
    banner_css = "data synthetic" if labels.get("synthetic") else "data real"
    intro = (
        paragraph(labels["statement"], banner_css)
        + paragraph(MEANING, "note")
        + paragraph(
            f"{len(images)} images, {len(cells)} white cells found: {summary}. Cells are abnormal at P(ALL) >= "
            f"{labels['threshold']} (mean of the bundle's {labels['n_models']} fold models)."
        )
    )
    rows = []
    for rank, row in enumerate(images.itertuples(), 1):
        png = overlays / f"{row.image}.png"
        thumb = (
            f"<a href='overlays/{esc(row.image)}.png'><img src='{_thumbnail(png)}' alt='{esc(row.image)}'></a>"
            if png.exists()
            else ""
        )
        colour = {"ALL": "#fde8e6", "not assessed": "#eeeeee", "healthy": "#e6f3ea"}.get(row.verdict, "#fff")
        rows.append(
            f"<tr style='background:{colour}'><td class='num'>{rank}</td><td>{thumb}</td>"
            f"<td class='text'><strong>{esc(row.image)}</strong><br>{esc(row.path)}<br>"
            f"<a href='geojson/{esc(row.image)}.geojson'>GeoJSON</a></td>"
            f"<td><strong>{esc(row.verdict)}</strong></td><td class='text'>{esc(row.reason)}</td>"
            f"<td class='num'>{esc(row.white_cells)}</td><td class='num'>{esc(row.abnormal_cells)}</td>"
            f"<td class='num'>{'' if pd.isna(row.max_p_all) else f'{row.max_p_all:.2f}'}</td>"
            f"<td class='text'>{'' if pd.isna(row.scale_px_per_rbc) else f'{row.scale_px_per_rbc:.1f}'} px"
            f"<br>{esc(row.scale_source)}</td></tr>"
        )
    header = "".join(
        f"<th>{h}</th>"
        for h in ("#", "overlay", "image", "verdict", "reason", "white cells", "abnormal", "max P(ALL)", "red cell")
    )
    table = f"<div class='scroll'><table id='screen-images'><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    abnormal = cells[cells["abnormal"].astype(bool)].sort_values("p_all", ascending=False)
    tiles = []
    for row in abnormal.head(GALLERY_LIMIT).itertuples():
        key = f"{row.image}/{int(row.cell)}"
        if key not in gallery:
            continue
        note = "" if bool(row.in_domain) else " (out of domain)"
        tiles.append(
            f"<figure><img src='{_jpeg_uri(gallery[key], 112, 85)}' alt='{esc(key)}'>"
            f"<figcaption>{esc(row.image)} #{int(row.cell)}<br>P(ALL) {row.p_all:.2f} ± {row.p_all_sd:.2f}{esc(note)}</figcaption></figure>"
        )
    more = len(abnormal) - len(tiles)
    gallery_html = (
        "<div class='figrow'>" + "".join(tiles) + "</div>"
        if tiles
        else paragraph("No cell reached the threshold.", "note")
    ) + (paragraph(f"{more} more abnormal cells are in cells.tsv.", "note") if more > 0 else "")
    sections = [
        Section("screen-summary", "Summary", intro),
        Section("screen-images", "Images, in review order", table),
        Section("screen-gallery", "Abnormal cells, highest P(ALL) first", gallery_html),
        Section("screen-models", "Models", labels["models_html"]),
    ]
    return page("leukoflow screening", labels["subtitle"], sections)


def write_screen_outputs(
    *,
    cells_paths: Sequence[str],
    images_paths: Sequence[str],
    gallery_paths: Sequence[str],
    files_dirs: Sequence[str],
    bundle,
    images_synthetic: bool,
    root: str,
    threshold: float,
    cells_out: str,
    images_out: str,
    overlays_out: str,
    geojson_out: str,
    html_out: str,
) -> pd.DataFrame:
    from leukoflow.core.io import write_table_atomic, write_text_atomic

    cells = read_group_tables(cells_paths, CELL_COLUMNS)
    images = verdict_order(read_group_tables(images_paths, IMAGE_COLUMNS))
    write_table_atomic(cells.reindex(columns=CELL_COLUMNS), cells_out)
    write_table_atomic(images.reindex(columns=IMAGE_COLUMNS), images_out)
    n_overlays = _link_tree(files_dirs, "overlays", overlays_out)
    _link_tree(files_dirs, "geojson", geojson_out)
    gallery: dict[str, np.ndarray] = {}
    for path in gallery_paths:
        with np.load(path, allow_pickle=False) as data:
            gallery.update({key: data[key] for key in data.files})
    models_synthetic = bundle.data == "synthetic"
    statement = (
        "Synthetic demo smears written by leukoflow's generator. " if images_synthetic else f"Images from {root}. "
    ) + (
        "The models were trained on synthetic demo data: these verdicts show that screening runs, not how "
        "real smears would be judged."
        if models_synthetic
        else "The models were trained on real data (see the model card)."
    )
    models_html = frame_table(
        pd.DataFrame(
            [
                ("bundle", str(bundle.root)),
                ("trained on", bundle.data),
                ("protocol", bundle.manifest.get("protocol", "")),
                ("fold models", len(bundle.model_files)),
                (
                    "red cells in the training crops",
                    f"{bundle.training_scale['red_cell_px']} px of the "
                    f"{bundle.training_scale['frame_px']} px frame ({bundle.training_scale['source']})",
                ),
            ],
            columns=["", ""],
        ),
        table_id="screen-bundle",
    ) + paragraph("The model card (MODEL_CARD.md) is in the bundle folder.", "note")
    labels = {
        "statement": statement,
        "synthetic": images_synthetic or models_synthetic,
        "threshold": threshold,
        "n_models": len(bundle.model_files),
        "models_html": models_html,
        "subtitle": ("synthetic demo data · " if images_synthetic or models_synthetic else "")
        + f"{len(images)} images from {root}",
    }
    document = render_page(images, cells, gallery, Path(overlays_out), labels)
    write_text_atomic(html_out, document)
    log.info("screening: %d images (%d overlays), %d cells; page %s", len(images), n_overlays, len(cells), html_out)
    return images
