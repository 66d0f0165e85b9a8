"""Checks on the validated config that a JSON schema cannot express, and small accessors."""

from __future__ import annotations

import re
from pathlib import Path

from leukoflow.errors import ConfigError

DATASETS = ("allidb1", "allidb2", "cnmc", "ukm")


def dataset_settings(config: dict, dataset: str) -> dict:
    return config.get("datasets", {}).get(dataset, {})


def enabled_datasets(config: dict) -> list[str]:
    """Datasets switched on, in a fixed order so targets and reports are stable."""
    return [name for name in DATASETS if dataset_settings(config, name).get("enabled", True)]


def is_synthetic(config: dict, dataset: str) -> bool:
    """A dataset with no root runs on the synthetic data the workflow writes itself."""
    return dataset_settings(config, dataset).get("root") in (None, "")


def check_config(config: dict) -> None:
    """Raise ConfigError naming the key for problems the schema cannot see."""
    enabled = enabled_datasets(config)
    if not enabled:
        raise ConfigError("datasets: every dataset is switched off (enabled: false); nothing to run")
    for name in enabled:
        root = dataset_settings(config, name).get("root")
        if root in (None, ""):
            continue
        path = Path(root).expanduser()
        if not path.exists():
            raise ConfigError(f"datasets.{name}.root: folder does not exist: {root}")
        if not path.is_dir():
            raise ConfigError(f"datasets.{name}.root: not a folder: {root}")


_SLIDE_NAME = re.compile(r"^(Im\d+_[01])\.jpe?g$", re.IGNORECASE)


def synthetic_slide_ids(n_all: int, n_healthy: int) -> list[str]:
    """Ids the synthetic ALL-IDB1 writer uses: ALL slides first, then healthy, numbered from 1."""
    return [f"Im{i:03d}_1" for i in range(1, n_all + 1)] + [
        f"Im{n_all + i:03d}_0" for i in range(1, n_healthy + 1)
    ]


def slide_ids_in(root: str | Path) -> list[str]:
    """ALL-IDB1 slide ids under a real root, found at parse time so per-slide jobs fan out in a
    plain DAG (no checkpoint). Files the manifest later rejects become 'rejected' records."""
    ids = set()
    for path in Path(root).rglob("*"):
        match = _SLIDE_NAME.match(path.name)
        if match and path.is_file():
            stem = match.group(1)
            ids.add("Im" + stem[2:])  # normalise the case of the prefix only
    return sorted(ids)


def allidb1_slide_ids(config: dict) -> list[str]:
    if is_synthetic(config, "allidb1"):
        settings = config["synthetic"]["allidb1"]
        return synthetic_slide_ids(settings["n_all"], settings["n_healthy"])
    return slide_ids_in(config["datasets"]["allidb1"]["root"])


def slide_model_folds(config: dict) -> tuple[list[int], int]:
    """(folds whose models score slide patches, fold whose conv layers make the heatmap)."""
    slides, cnn = config["allidb1_slides"], config["allidb2_cnn"]
    folds = list(slides["model_folds"]) or list(cnn["folds"])
    missing = sorted(set(folds) - set(cnn["folds"]))
    if missing:
        raise ConfigError(f"allidb1_slides.model_folds: folds {missing} are not trained (allidb2_cnn.folds)")
    if slides["model_protocol"] not in cnn["protocols"]:
        raise ConfigError(
            f"allidb1_slides.model_protocol: {slides['model_protocol']!r} is not in allidb2_cnn.protocols"
        )
    heatmap_fold = slides["heatmap_fold"] or folds[0]
    if heatmap_fold not in cnn["folds"]:
        raise ConfigError(f"allidb1_slides.heatmap_fold: fold {heatmap_fold} is not trained")
    return folds, heatmap_fold
