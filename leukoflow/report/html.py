"""HTML building blocks of the report: escaping, tables, figures as data URIs, the page shell.

Every string that reaches the page goes through `esc` (or a function here that calls it); the
report emits no script at all, so a file name like `<script>…</script>.tif` can only ever show up
as text.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from leukoflow.core.errors import DatasetError


def esc(value) -> str:
    """Text content or attribute value, escaped (quotes too); NaN/None print as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def format_percent(value, digits: int = 2) -> str:
    return "n/a" if is_missing(value) else f"{100 * float(value):.{digits}f}"


def format_ci(value, low, high) -> str:
    """`97.22 [95.10, 98.90]`: the estimate in percent with its interval; `n/a` when undefined."""
    if is_missing(value):
        return "n/a"
    if is_missing(low) or is_missing(high):
        return f"{format_percent(value)} [CI n/a]"
    return f"{format_percent(value)} [{format_percent(low, 1)}, {format_percent(high, 1)}]"


@dataclass(frozen=True)
class Cell:
    """A table cell: text (escaped on output), an optional CSS class from our own fixed set, and
    an optional second line (e.g. the paper's value under ours)."""

    text: object
    css: str = ""
    note: str = ""


_NUMERIC = re.compile(r"^(-?\d+(\.\d+)?(\s\[.*\])?|n/a)$")


def is_numeric(value) -> bool:
    """Numbers and formatted metrics are right-aligned; everything else reads left to right."""
    if isinstance(value, Cell):
        value = value.text
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Number):
        return True
    return isinstance(value, str) and bool(_NUMERIC.match(value))


def html_table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    table_id: str,
    row_css: Sequence[str] | None = None,
    caption: str | None = None,
) -> str:
    """A table whose every header and cell is escaped. Cells may be `Cell` for a CSS class."""

    def cell(value, tag: str) -> str:
        classes = [value.css] if isinstance(value, Cell) and value.css else []
        if tag == "td" and is_numeric(value):
            classes.append("num")
        css = f" class='{esc(' '.join(classes))}'" if classes else ""
        if isinstance(value, Cell):
            note = f"<br><span class='paper'>{esc(value.note)}</span>" if value.note else ""
            return f"<{tag}{css}>{esc(value.text)}{note}</{tag}>"
        return f"<{tag}{css}>{esc(value)}</{tag}>"

    rows = list(rows)
    row_css = list(row_css) if row_css is not None else [""] * len(rows)
    body = "".join(
        (f"<tr class='{esc(css)}'>" if css else "<tr>") + "".join(cell(v, "td") for v in row) + "</tr>"
        for row, css in zip(rows, row_css)
    )
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f"<div class='scroll'><table id='{esc(table_id)}'>{cap}<thead><tr>"
        + "".join(cell(h, "th") for h in header)
        + f"</tr></thead><tbody>{body}</tbody></table></div>"
    )


def frame_table(df: pd.DataFrame, *, table_id: str, caption: str | None = None) -> str:
    """A DataFrame as an escaped table, one row per DataFrame row."""
    return html_table(
        [str(c) for c in df.columns], df.itertuples(index=False, name=None), table_id=table_id, caption=caption
    )


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise DatasetError(path, "not a PNG file (the report embeds figures as PNG)")
    return data


def image_file_uri(path: str | Path) -> str:
    """A PNG file as a data URI, so the report stays one file that opens anywhere."""
    return png_data_uri(_png_bytes(Path(path)))


def downscaled_image_uri(path: str | Path, max_width: int = 1200, quality: int = 85) -> str:
    """A big PNG (a slide panel: photographs under matplotlib titles) as a JPEG data URI at most
    `max_width` pixels wide. Lossless PNG of photographic content costs ~4x the bytes of a JPEG
    that looks the same on screen, and a report of a dozen panels should stay a few MB."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    data = _png_bytes(path)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            rgba = image.convert("RGBA")
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(path, f"unreadable PNG ({error})") from error
    # JPEG has no alpha: transparent pixels go onto white, as the page behind them is white.
    rgb = Image.new("RGB", rgba.size, (255, 255, 255))
    rgb.paste(rgba, mask=rgba.getchannel("A"))
    rgb.thumbnail((max_width, max(1, round(max_width * rgb.height / rgb.width))), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figure(uri: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f"<figure><img src='{esc(uri)}' alt='{esc(alt)}'>{cap}</figure>"


def paragraph(text: str, css: str = "") -> str:
    cls = f" class='{esc(css)}'" if css else ""
    return f"<p{cls}>{esc(text)}</p>"


def data_statement(source: dict | None, dataset_title: str) -> str:
    """The plain statement of where a dataset's numbers come from."""
    if source is None:
        return f"{dataset_title}: data source unknown (no manifest provenance record was given to the report)."
    if source.get("source") == "synthetic":
        seed = source.get("synthetic_seed")
        return f"{dataset_title}: synthetic demo data, not a reproduction" + (
            f" (written by leukoflow's generator, seed {seed})." if seed is not None else "."
        )
    return (
        f"{dataset_title}: real data from {source.get('root', '?')}, "
        f"manifest sha256 {source.get('manifest_sha256', '?')}."
    )


def data_banner(source: dict | None, dataset_title: str) -> str:
    css = "data synthetic" if source is None or source.get("source") != "real" else "data real"
    return paragraph(data_statement(source, dataset_title), css)


@dataclass
class Section:
    """One top-level part of the report; `anchor` must be unique and is used in the contents list."""

    anchor: str
    title: str
    body: str
    subsections: list[tuple[str, str]] = field(default_factory=list)  # (anchor, title) for contents


CSS = """
:root{--ink:#1d2430;--muted:#5b6575;--rule:#d9dee6;--accent:#1f5fa8}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);
 max-width:1240px;margin:0 auto;padding:1.5em 1.5em 4em;background:#fff}
h1{font-size:1.7em;margin:.2em 0 .1em}h2{font-size:1.35em;margin:1.8em 0 .4em;padding-top:.6em;
 border-top:2px solid var(--rule)}h3{font-size:1.1em;margin:1.4em 0 .3em}h4{font-size:1em;margin:1em 0 .3em}
.subtitle{color:var(--muted);margin:0 0 1em}
nav{background:#f5f7fa;border:1px solid var(--rule);border-radius:6px;padding:.6em 1.2em;margin:1em 0}
nav ol{margin:.2em 0;padding-left:1.3em}nav li{margin:.1em 0}a{color:var(--accent)}
.scroll{overflow-x:auto;margin:.5em 0 1em}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
caption{text-align:left;color:var(--muted);padding:.2em 0;font-size:13px}
th,td{border:1px solid var(--rule);padding:3px 7px;text-align:left;vertical-align:top}
td{white-space:nowrap}td.num{text-align:right}td.metric{white-space:normal}
th{background:#eef2f7;font-weight:600;text-align:center;vertical-align:bottom}
td.text{white-space:normal;max-width:30em;word-break:break-all}
tr.pooled td{font-weight:600;background:#f4f7fb}
tr.leak td,td.leak{background:#fde8e6}
td.synth{background:#fff4d1}
.paper{color:var(--muted);font-weight:normal;font-size:12px}
.data{padding:.45em .8em;border-radius:5px;margin:.5em 0}
.data.synthetic{background:#fff4d1;border:1px solid #e8c65a}
.data.real{background:#e6f3ea;border:1px solid #8cc39c}
.warning{background:#fde8e6;border:1px solid #d9534f;color:#7a1c18;padding:.45em .8em;border-radius:5px;
 font-weight:600}
.note{color:var(--muted);font-size:13px}
.figrow{display:flex;flex-wrap:wrap;gap:0 1.2em;align-items:flex-start}
figure{margin:.6em 0 1.2em}figure img{max-width:100%;height:auto;border:1px solid var(--rule)}
figcaption{color:var(--muted);font-size:13px}
pre{background:#f5f7fa;border:1px solid var(--rule);padding:.8em;font-size:12px;overflow-x:auto}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1.2em;margin:.5em 0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-all}
"""


def page(title: str, subtitle: str, sections: Sequence[Section], summary: str = "") -> str:
    """The whole document: inline CSS, the one-screen `summary` (HTML), a contents list, the
    sections; no script, no external URL."""
    contents = "".join(
        f"<li><a href='#{esc(s.anchor)}'>{esc(s.title)}</a>"
        + (
            "<ol>" + "".join(f"<li><a href='#{esc(a)}'>{esc(t)}</a></li>" for a, t in s.subsections) + "</ol>"
            if s.subsections
            else ""
        )
        + "</li>"
        for s in sections
    )
    body = "".join(f"<section id='{esc(s.anchor)}'><h2>{esc(s.title)}</h2>{s.body}</section>" for s in sections)
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        # No script may run and nothing may be fetched: figures are data URIs, style is inline.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p class='subtitle'>{esc(subtitle)}</p></header>"
        f"{summary}<nav><strong>Contents</strong><ol>{contents}</ol></nav>{body}</body></html>\n"
    )
