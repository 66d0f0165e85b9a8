"""Pascal VOC box annotations (`<object><name>..</name><bndbox>xmin ymin xmax ymax`), the format
of public smear sets such as BCCD; used to measure the screening against real boxes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from leukoflow.core.errors import DatasetError


def read_voc_boxes(path: str | Path, kind: str | None = None) -> list[tuple[str, int, int, int, int]]:
    """(name, x0, y0, x1, y1) of every object of one VOC XML file (only `kind` when given)."""
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError) as exc:
        raise DatasetError(path, f"unreadable VOC annotation ({exc})") from exc
    out = []
    for obj in tree.findall("object"):
        name, box = obj.findtext("name"), obj.find("bndbox")
        if box is None or (kind is not None and name != kind):
            continue
        try:
            coords = [int(float(box.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (TypeError, ValueError) as exc:
            raise DatasetError(path, f"object {name!r} has a bndbox without four numbers") from exc
        out.append((name, *coords))
    return out


def box_array(boxes) -> np.ndarray:
    return np.asarray([b[1:] for b in boxes], dtype=np.int64).reshape(-1, 4)
