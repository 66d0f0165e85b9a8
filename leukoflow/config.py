"""The workflow config: checks a JSON schema cannot express, the stage switches, small accessors.

Sections: `datasets` (where each dataset lies), `synthetic` (the demo's generator), `summary`,
`compute`, then one section per dataset with one subsection per stage (`allidb2.cnn`,
`allidb2.filters`, `allidb1.slides`, `allidb1.cnn50`, ...).
"""

from __future__ import annotations

import re
from pathlib import Path

from leukoflow.core.errors import ConfigError
from leukoflow.data.datasets import DATASET_KEYS

RENAMED_KEYS = {
    "allidb2_cnn": "allidb2.cnn",
    "allidb1_slides": "allidb1.slides",
    "filters": "allidb2.filters",
    "cnn50": "allidb1.cnn50",
}
"""Top-level keys of leukoflow 0.1 and where they live now."""

MOVED_KEYS = {
    ("cnmc", "crop", "threshold"): "cnmc.ours.threshold (cnmc.as_published runs the paper's otsu)",
    ("cnmc", "backbones", "backbone"): "cnmc.ours.backbone (cnmc.as_published runs the paper's inception_resnet_v2)",
    ("ukm", "classifier", "input_size"): "ukm.ours.input_size (ukm.as_published runs the paper's 224)",
}
"""Keys that became method switches (leukoflow 0.3) and where they live now."""


def check_renamed_keys(config: dict) -> None:
    """Name the new place of an old key before the schema rejects it as unknown."""
    for old, new in RENAMED_KEYS.items():
        if old in config:
            raise ConfigError(f"{old}: this section moved to `{new}` (leukoflow 0.2); move its keys there")
    for path, new in MOVED_KEYS.items():
        section = config
        for key in path[:-1]:
            section = section.get(key) if isinstance(section, dict) else None
        if isinstance(section, dict) and path[-1] in section:
            raise ConfigError(f"{'.'.join(path)}: this key moved to {new}")


def dataset_settings(config: dict, dataset: str) -> dict:
    return config.get("datasets", {}).get(dataset, {})


def enabled_datasets(config: dict) -> list[str]:
    """Datasets switched on, in a fixed order so targets and reports are stable."""
    return [name for name in DATASET_KEYS if dataset_settings(config, name).get("enabled", True)]


def is_synthetic(config: dict, dataset: str) -> bool:
    """A dataset with no root runs on the synthetic data the workflow writes itself."""
    return dataset_settings(config, dataset).get("root") in (None, "")


def _stage_switch(config: dict, dataset: str, stage: str) -> bool:
    return bool(config.get(dataset, {}).get(stage, {}).get("enabled", True))


STAGES = {
    # stage: (datasets it needs, config switch (dataset, stage) or None)
    "allidb2": (("allidb2",), None),
    "allidb2/filters": (("allidb2",), ("allidb2", "filters")),
    # Where each ALL-IDB2 crop was cut from: searches the ALL-IDB1 slides.
    "allidb2/provenance": (("allidb2", "allidb1"), ("allidb2", "provenance")),
    "allidb1": (("allidb1",), None),
    # The slide stage reads slides with the ALL-IDB2 network.
    "allidb1/slides": (("allidb1", "allidb2"), None),
    "allidb1/cnn50": (("allidb1",), ("allidb1", "cnn50")),
    "cnmc": (("cnmc",), None),
    "ukm": (("ukm",), None),
    # Screening with a named bundle needs no dataset; with this run's models it needs ALL-IDB2.
    "screen": ((), None),
}


def is_enabled(config: dict, stage: str) -> bool:
    """Whether `stage` runs: its datasets are enabled and its own switch (if any) is on.

    Raises
    ------
    ConfigError
        For a stage name not in `STAGES`.
    """
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; expected one of {sorted(STAGES)}")
    if stage == "screen":
        screen = config.get("screen", {})
        return bool(screen.get("enabled")) and (bool(screen.get("models")) or "allidb2" in enabled_datasets(config))
    datasets, switch = STAGES[stage]
    enabled = enabled_datasets(config)
    if not all(name in enabled for name in datasets):
        return False
    return switch is None or _stage_switch(config, *switch)


def check_config(config: dict) -> None:
    """Raise ConfigError naming the key for problems the schema cannot see."""
    enabled = enabled_datasets(config)
    screen = config.get("screen", {})
    if not enabled and not (screen.get("enabled") and screen.get("models")):
        raise ConfigError(
            "datasets: every dataset is switched off (enabled: false) and no screening with a model bundle "
            "(screen.enabled, screen.models) is asked for; nothing to run"
        )
    check_screen(config)
    if "cnmc" in enabled:
        check_cnmc(config)
    for name in enabled:
        root = dataset_settings(config, name).get("root")
        if root in (None, ""):
            continue
        path = Path(root).expanduser()
        if not path.exists():
            raise ConfigError(f"datasets.{name}.root: folder does not exist: {root}")
        if not path.is_dir():
            raise ConfigError(f"datasets.{name}.root: not a folder: {root}")


def check_cnmc(config: dict) -> None:
    """Each C-NMC method's network must take the crop size (Inception-ResNet-v2: 75 px at least)."""
    from leukoflow.cnmc.methods import switches
    from leukoflow.nets.inception_resnet_v2 import MIN_INPUT

    cnmc = config.get("cnmc", {})
    size = cnmc.get("crop", {}).get("size", 299)
    leak_check = cnmc.get("leak_check", {})
    trained = [*cnmc.get("methods", ()), *([leak_check.get("method", "ours")] if leak_check.get("enabled") else [])]
    for method in dict.fromkeys(trained):
        if switches(cnmc, method)["backbone"] == "inception_resnet_v2" and size < MIN_INPUT:
            raise ConfigError(
                f"cnmc.crop.size: {size} px is too small for inception_resnet_v2 (method {method}; at least "
                f"{MIN_INPUT} px); raise it, or set cnmc.{method}.backbone: efficientnet_lite0"
            )


_SLIDE_NAME = re.compile(r"^(Im\d+_[01])\.jpe?g$", re.IGNORECASE)


def synthetic_slide_ids(n_all: int, n_healthy: int) -> list[str]:
    """Ids the synthetic ALL-IDB1 writer uses: ALL slides first, then healthy, numbered from 1."""
    return [f"Im{i:03d}_1" for i in range(1, n_all + 1)] + [f"Im{n_all + i:03d}_0" for i in range(1, n_healthy + 1)]


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
    slides, cnn = config["allidb1"]["slides"], config["allidb2"]["cnn"]
    folds = list(slides["model_folds"]) or list(cnn["folds"])
    missing = sorted(set(folds) - set(cnn["folds"]))
    if missing:
        raise ConfigError(f"allidb1.slides.model_folds: folds {missing} are not trained (allidb2.cnn.folds)")
    if slides["model_protocol"] not in cnn["protocols"]:
        raise ConfigError(
            f"allidb1.slides.model_protocol: {slides['model_protocol']!r} is not in allidb2.cnn.protocols"
        )
    heatmap_fold = slides["heatmap_fold"] or folds[0]
    if heatmap_fold not in cnn["folds"]:
        raise ConfigError(f"allidb1.slides.heatmap_fold: fold {heatmap_fold} is not trained (allidb2.cnn.folds)")
    return folds, heatmap_fold


def filter_model(config: dict) -> tuple[str, int]:
    """(protocol, fold) of the ALL-IDB2 model whose filters are analysed."""
    filters, cnn = config["allidb2"]["filters"], config["allidb2"]["cnn"]
    protocol = filters["protocol"]
    if protocol not in cnn["protocols"]:
        raise ConfigError(f"allidb2.filters.protocol: {protocol!r} is not in allidb2.cnn.protocols")
    fold = filters["fold"] or cnn["folds"][0]
    if fold not in cnn["folds"]:
        raise ConfigError(f"allidb2.filters.fold: fold {fold} is not trained (allidb2.cnn.folds)")
    return protocol, fold


HOLDOUT_FOLD = 0
"""The UKM-WBC U-Net "fold" of the paper's 70/30 hold-out: trained on the classifier's training
images, scored on its test images."""


def ukm_unet_runs(config: dict) -> list[tuple[str, int]]:
    """(loss, fold) of every UKM-WBC U-Net: the main loss on folds 1..k, on the 70/30 hold-out
    (`HOLDOUT_FOLD`, with `ukm.unet.holdout`), then the comparison loss (`ukm.unet.compare_loss`,
    none to skip) on `compare_fold`."""
    unet = config["ukm"]["unet"]
    runs = [(unet["loss"], fold) for fold in range(1, unet["folds"] + 1)]
    if unet.get("holdout", True):
        runs.append((unet["loss"], HOLDOUT_FOLD))
    compare = unet["compare_loss"]
    if compare in (None, "none", unet["loss"]):
        return runs
    if not 1 <= unet["compare_fold"] <= unet["folds"]:
        raise ConfigError(f"ukm.unet.compare_fold: fold {unet['compare_fold']} is not in 1..{unet['folds']}")
    return [*runs, (compare, unet["compare_fold"])]


def check_screen(config: dict) -> None:
    """The screening settings a schema cannot check."""
    screen = config.get("screen", {})
    if not screen.get("enabled"):
        return
    if not screen.get("models") and "allidb2" not in enabled_datasets(config):
        raise ConfigError(
            "screen.models: not set, and ALL-IDB2 is switched off, so this run trains no models to screen with; "
            "name a model bundle folder (results/models of another run)"
        )
    for key in ("root", "models"):
        value = screen.get(key)
        if value and not Path(value).expanduser().is_dir():
            raise ConfigError(f"screen.{key}: folder does not exist: {value}")
    protocols = config.get("allidb2", {}).get("cnn", {}).get("protocols")
    if not screen.get("models") and protocols and screen.get("bundle_protocol", "leak_free") not in protocols:
        raise ConfigError(
            f"screen.bundle_protocol: {screen.get('bundle_protocol')!r} is not in allidb2.cnn.protocols {protocols}"
        )


def screen_images(config: dict):
    """The images screening will read, found at parse time (id, relative, path, supported): the
    synthetic demo smears' names when `screen.root` is null."""
    import pandas as pd

    from leukoflow.screen.files import image_id, list_images

    root = config["screen"].get("root")
    if root:
        return list_images(root)
    from leukoflow.data.synthetic.screen_smears import smear_names

    names = smear_names(config["synthetic"]["screen"]["n_smears"])
    folder = Path(config["results"]) / "synthetic" / "screen" / "data"
    return pd.DataFrame(
        {
            "id": [image_id(n) for n in names],
            "relative": names,
            "path": [str(folder / n) for n in names],
            "supported": True,
        }
    )


def sort_keys_in_place(value) -> None:
    """Sort every mapping of the config by key, in place (lists keep their order).

    Snakemake compares a rule's params by their text: the same settings listed in another key
    order in a user's config would otherwise rerun every job that receives them."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: str(item[0]))
        value.clear()
        value.update(items)
        for item in value.values():
            sort_keys_in_place(item)
    elif isinstance(value, list):
        for item in value:
            sort_keys_in_place(item)


def only(mapping: dict, keys) -> dict:
    """The `keys` of `mapping` (each must be there), in sorted order: a rule's params hold only
    what its script reads, so editing another setting reruns nothing."""
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise ConfigError(f"settings {missing} are missing (have {sorted(mapping)})")
    return {key: mapping[key] for key in sorted(keys)}


_SCREEN_TYPES = {
    "enabled": bool,
    "strict": bool,
    "verdict_out_of_domain": bool,
    "group_size": int,
    "min_abnormal_cells": int,
    "abnormal_threshold": float,
    "nucleus_threshold": float,
}


def coerce_command_line(config: dict) -> None:
    """`--config 'screen={enabled: true, root: x}'` reaches the workflow as text (Snakemake parses
    nested values with YAML's base loader): give the screening's switches and numbers their types
    before the schema checks them. `pixel_size_um` becomes a number when it reads as one."""
    screen = config.get("screen")
    if not isinstance(screen, dict):
        return
    for key, kind in _SCREEN_TYPES.items():
        value = screen.get(key)
        if not isinstance(value, str):
            continue
        if kind is bool and value.lower() in ("true", "false", "yes", "no"):
            screen[key] = value.lower() in ("true", "yes")
        elif kind is not bool:
            try:
                screen[key] = kind(value)
            except ValueError:
                pass
    for key in ("root", "models", "pixel_size_um"):
        if screen.get(key) in ("null", "None", "~", ""):
            screen[key] = None
    value = screen.get("pixel_size_um")
    if isinstance(value, str):
        try:
            screen["pixel_size_um"] = float(value)
        except ValueError:
            pass
