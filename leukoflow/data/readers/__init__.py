"""Readers that turn the four dataset layouts into manifest tables (columns in docs/design.md).

    result = scan("allidb1", root, strict=True)   # ScanResult(manifest, rejected)

Every image is fully decoded and hashed while the manifest is built, so a truncated file is
found here and not halfway through training.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from leukoflow.core.errors import ConfigError
from leukoflow.data.readers import allidb1, allidb2, cnmc, ukm
from leukoflow.data.readers.allidb1 import read_xyc
from leukoflow.data.readers.common import MANIFEST_COLUMNS, REJECTED_COLUMNS, ScanResult

READERS: dict[str, Callable[..., ScanResult]] = {
    "allidb1": allidb1.scan,
    "allidb2": allidb2.scan,
    "cnmc": cnmc.scan,
    "ukm": ukm.scan,
}
DATASETS: tuple[str, ...] = tuple(READERS)


def scan(dataset: str, root: str | Path, strict: bool = True, workers: int | None = None) -> ScanResult:
    """Read dataset `dataset` under `root` into a manifest and a table of rejected files.

    strict=True raises DatasetError (`<file>: <problem>`) at the first problem; strict=False
    lists problem files in `rejected` and keeps going. A missing root or a folder without any
    usable image always raises. `workers` sets the decoding thread count.
    """
    if dataset not in READERS:
        raise ConfigError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    return READERS[dataset](root, strict=strict, workers=workers)


__all__ = ["DATASETS", "MANIFEST_COLUMNS", "READERS", "REJECTED_COLUMNS", "ScanResult", "read_xyc", "scan"]
