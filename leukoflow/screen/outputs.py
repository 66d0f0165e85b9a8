"""What a person checks: an overlay PNG and a QuPath GeoJSON per image, written by the group jobs.

GeoJSON follows what QuPath (0.3 and later) reads with File > Import objects: a FeatureCollection
of Features whose `geometry` is a Polygon in image pixels (x right, y down, origin at the top-left
pixel corner), and whose `properties` carry `objectType: "detection"`, a `classification`
(`name`, `color` as [r, g, b]) and `measurements` (name -> number). Each feature's `id` is a UUID
derived from the image and the cell, so importing twice updates instead of duplicating.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from leukoflow.core.io import atomic_path, write_text_atomic

COLOURS = {"ALL": (220, 30, 30), "healthy": (40, 170, 60), "not assessed": (150, 150, 150)}
ABNORMAL_OUT_OF_DOMAIN = (240, 150, 20)
OVERLAY_MAX_SIDE = 1600  # our choice: overlays of 2592x1944 slides are shown at 1600 px
_NAMESPACE = uuid.UUID("6f1c2b0e-4a7d-4b8e-9a51-2f4d8c3e9b10")


def cell_class(row, image_verdict: str) -> str:
    if image_verdict == "not assessed":
        return "not assessed"
    return "ALL" if bool(row.abnormal) else "healthy"


def geojson(image: str, cells: pd.DataFrame, verdict: str, threshold: float) -> dict:
    """The FeatureCollection of one image's cells (see the module docstring)."""
    features = []
    for row in cells.itertuples():
        name = cell_class(row, verdict)
        x0, y0, x1, y1 = (float(v) for v in (row.x0, row.y0, row.x1, row.y1))
        features.append(
            {
                "type": "Feature",
                "id": str(uuid.uuid5(_NAMESPACE, f"{image}/{int(row.cell)}")),
                "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
                "properties": {
                    "objectType": "detection",
                    "name": f"cell {int(row.cell)}",
                    "classification": {"name": name, "color": list(COLOURS[name])},
                    "measurements": {
                        "P(ALL)": float(row.p_all),
                        "P(ALL) sd over folds": float(row.p_all_sd),
                        "Diameter px": float(row.diameter_px),
                        "Feature distance ratio": float(row.feature_ratio),
                        "In domain": 1.0 if bool(row.in_domain) else 0.0,
                        "Abnormal threshold": float(threshold),
                    },
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def overlay(rgb: np.ndarray, cells: pd.DataFrame, verdict: str, caption: str) -> Image.Image:  # noqa: F821
    """The image with each cell's box (red: abnormal, green: not, orange: abnormal but unlike the
    training cells, grey: image not assessed) and its P(ALL), and a caption bar on top."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(rgb)
    factor = min(1.0, OVERLAY_MAX_SIDE / max(image.size))
    if factor < 1.0:
        image = image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    width = max(2, round(min(image.size) / 240))
    for row in cells.itertuples():
        if verdict == "not assessed":
            colour = COLOURS["not assessed"]
        elif bool(row.abnormal):
            colour = COLOURS["ALL"] if bool(row.in_domain) else ABNORMAL_OUT_OF_DOMAIN
        else:
            colour = COLOURS["healthy"]
        box = [row.x0 * factor, row.y0 * factor, row.x1 * factor - 1, row.y1 * factor - 1]
        draw.rectangle(box, outline=colour, width=width)
        label = f"{int(row.cell)}: {row.p_all:.2f}"
        draw.rectangle([box[0], max(0, box[1] - 12), box[0] + 7 * len(label), box[1]], fill=colour)
        draw.text((box[0] + 2, max(0, box[1] - 12)), label, fill=(255, 255, 255), font=font)
    bar = Image.new("RGB", (image.width, 18), COLOURS.get(verdict, (80, 80, 80)))
    ImageDraw.Draw(bar).text((4, 3), caption[: max(10, image.width // 6)], fill=(255, 255, 255), font=font)
    out = Image.new("RGB", (image.width, image.height + 18))
    out.paste(bar, (0, 0))
    out.paste(image, (0, 18))
    return out


def write_image_outputs(
    rgb: np.ndarray, image: str, cells: pd.DataFrame, row, threshold: float, overlay_dir: Path, geojson_dir: Path
) -> None:
    caption = f"{image}: {row.verdict}" + (f" ({row.reason})" if row.reason else "")
    picture = overlay(rgb, cells, row.verdict, caption)
    with atomic_path(overlay_dir / f"{image}.png") as tmp:
        picture.save(tmp, format="PNG", optimize=False)
    document = geojson(image, cells, row.verdict, threshold)
    write_text_atomic(geojson_dir / f"{image}.geojson", json.dumps(document, indent=1) + "\n")
