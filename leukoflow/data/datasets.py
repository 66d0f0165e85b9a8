"""The registry of datasets: config keys, titles, and class names in label order.

The one place a dataset's name, title and classes are written; config checks, readers, the
summary and the report read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    key: str
    title: str
    classes: tuple[str, ...]  # class names, index = manifest label
    group: str  # what a manifest's source_id groups (the unit that never straddles a split)


DATASETS: dict[str, DatasetInfo] = {
    info.key: info
    for info in (
        DatasetInfo("allidb1", "ALL-IDB1 (whole slides)", ("healthy", "ALL"), "slide"),
        DatasetInfo("allidb2", "ALL-IDB2 (single-cell crops)", ("healthy", "ALL"), "source crop"),
        DatasetInfo("cnmc", "C-NMC 2019 (segmented single cells)", ("HEM", "ALL"), "subject"),
        DatasetInfo(
            "ukm",
            "UKM-WBC (white cells with nucleus masks)",
            ("neutrophil", "promyelocyte", "lymphoblast"),
            "source image",
        ),
    )
}
DATASET_KEYS: tuple[str, ...] = tuple(DATASETS)
DATASET_TITLES: dict[str, str] = {key: info.title for key, info in DATASETS.items()}
