"""Checks on the validated config that a JSON schema cannot express, and small accessors."""

from __future__ import annotations

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
