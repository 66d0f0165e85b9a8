"""Rule screen_bundle: this run's trained single-cell networks -> a model bundle that travels.

The training crops are read from their manifest (the original crops, not the augmented copies),
framed and resized exactly as for training (reflection-padded to `frame`, resized to
`input_size`), and measured: the red-cell scale they were trained at, their stain statistics and,
per fold model, the distribution of the trunk's pooled features (`screen.domain`). The bundle
(`leukoflow.bundle`) holds the networks, these statistics, the settings, the test table and a
model card.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SCALE_SAMPLE = 80  # our choice: training crops whose red cells are measured (0.1 s each)
MIN_MEASURED = 10  # fewer finite estimates than this and the framing's construction value is used


def training_scale(crops: np.ndarray, frame: int, crop_cell_fraction: float) -> dict:
    """The red-cell diameter (frame pixels) of the training crops (N, F, F, 3 uint8).

    A crop holds only a few red cells, so most crops give no estimate of their own; the median of
    those that do is used when at least `MIN_MEASURED` did, else the value the framing implies
    (the white cell spans `crop_cell_fraction` of the frame, and is `WHITE_PER_RED` red cells).
    """
    from leukoflow.slides.scale import WHITE_PER_RED, red_cell_scale

    step = max(1, len(crops) // SCALE_SAMPLE)
    estimates = [red_cell_scale(crop).diameter_px for crop in crops[::step]]
    finite = np.array([e for e in estimates if math.isfinite(e)])
    implied = crop_cell_fraction * frame / WHITE_PER_RED
    measured = len(finite) >= MIN_MEASURED
    return {
        "frame_px": int(frame),
        "red_cell_px": round(float(np.median(finite)) if measured else implied, 2),
        "source": f"measured on {len(finite)} of {len(estimates)} training crops"
        if measured
        else f"framing: white cell {crop_cell_fraction} of the frame, {WHITE_PER_RED} red cells "
        f"(only {len(finite)} of {len(estimates)} crops measurable)",
        "implied_by_framing_px": round(implied, 2),
    }


def model_card(manifest: Mapping, table1: pd.DataFrame, scale: Mapping, counts: Mapping[str, int]) -> str:
    """MODEL_CARD.md: what the models are, what they were trained and tested on, what not to do."""
    synthetic = manifest["data"] == "synthetic"
    rows = []
    for row in table1.itertuples():
        rows.append(
            f"| {row.fold} | {row.n_test} | {100 * row.accuracy:.1f} [{100 * row.accuracy_ci_low:.1f}, "
            f"{100 * row.accuracy_ci_high:.1f}] | {100 * row.sensitivity:.1f} | {100 * row.specificity:.1f} |"
        )
    warning = (
        "**Synthetic demo data.** These models were trained on images the workflow drew itself. They show "
        "that the pipeline runs; they say nothing about real smears and must not be used on them.\n\n"
        if synthetic
        else ""
    )
    lines = [
        f"# Model card: {manifest['task']}",
        "",
        warning + f"Written by leukoflow {manifest.get('leukoflow_version', '')} on {manifest['created']}.",
        "",
        "## Models",
        f"- {len(manifest['models'])} networks (one per fold of the `{manifest['protocol']}` protocol), "
        f"`{manifest['architecture']}`, input {manifest['input_size']} px, classes {', '.join(manifest['classes'])}.",
        "- Screening averages P(ALL) over the folds and reports their standard deviation.",
        "",
        "## Training data",
        f"- {manifest['data']} ALL-IDB2-layout single-cell crops: "
        + ", ".join(f"{n} {name}" for name, n in counts.items())
        + f"; framed to {scale['frame_px']} px.",
        f"- Red cells in the training crops: {scale['red_cell_px']} px of the frame ({scale['source']}); "
        "a screened smear is framed so its red cells have this size.",
        "",
        "## Test metrics (Table I, held-out bag of each fold; 95% intervals)",
        "",
        "| fold | test images | accuracy % | sensitivity % | specificity % |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Protocol `{manifest['protocol']}`"
        + (
            ": all copies of a crop, and every crop of one slide, lie in one bag."
            if manifest["protocol"] == "leak_free"
            else ": the paper's, leaky (copies of one crop on both sides of a split); metrics are optimistic."
        ),
        "",
        "## Intended use",
        "- Research: ranking a facility's smears and cells for a haematologist to review. Not a diagnosis, not a "
        "medical device.",
        "",
        "## Known limits",
        "- Trained on crops centred on one white cell; cells are found by their nuclei (`docs/screen.md`) and may "
        "be missed in thick areas or split in clumps.",
        "- Classes are ALL-IDB2's: lymphoblast against every other white cell; other leukaemias, reactive "
        "lymphocytes and smudge cells are not classes of their own.",
        "- A smear whose stain statistics or network features lie outside those of the training crops is marked "
        "out of domain and not assessed; the check cannot see a change that keeps those statistics in range.",
        "",
    ]
    return "\n".join(lines)


def build_bundle(
    *,
    manifest: pd.DataFrame,
    model_paths: Sequence[str],
    folds: Sequence[int],
    table1_path: str,
    settings: Mapping,
    data_label: str,
    config_text: str,
    out_dir: str,
    device=None,
) -> Path:
    """Measure the training crops, then write the bundle (see the module docstring).

    `settings`: protocol, frame, input_size, crop_cell_fraction, task.
    """
    import torch

    from leukoflow.bundle import write_bundle
    from leukoflow.core.images import pad_to_square, resize_batch
    from leukoflow.core.io import read_rgb, read_tsv
    from leukoflow.inference import load_exported, predict_with_features, read_exported
    from leukoflow.runtime.progress import Progress
    from leukoflow.screen.domain import fit_features, save_domain, stain_statistics

    frame, input_size = int(settings["frame"]), int(settings["input_size"])
    progress = Progress("decode training crops", len(manifest), log)
    frames = []
    for path in manifest["path"]:
        frames.append(pad_to_square(read_rgb(path), frame, name=path))
        progress.advance()
    frames = np.stack(frames)
    scale = training_scale(frames, frame, float(settings["crop_cell_fraction"]))
    log.info("training crops: red cells %.1f px of the %d px frame (%s)", scale["red_cell_px"], frame, scale["source"])
    inputs = resize_batch(torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous(), input_size)
    stain = stain_statistics(inputs.numpy())
    feature_models, architectures = [], set()
    for path in model_paths:
        model = load_exported(path)
        architectures.add(read_exported(path)["architecture"])
        normalisation = getattr(model, "normalisation", "imagenet")
        _, features = predict_with_features(model, inputs, device=device, normalisation=normalisation)
        feature_models.append(fit_features(features, groups=manifest["source_id"].to_numpy()))
        log.info("%s: pooled features of %d training crops described (%d-d)", path, len(features), features.shape[1])
    staging = Path(out_dir).with_name(f".{Path(out_dir).name}.domain.npz")
    save_domain(staging, stain, feature_models)
    table1 = read_tsv(table1_path, text_columns=("fold",))
    counts = manifest["class_name"].value_counts().sort_index().to_dict()
    description = {
        "task": settings.get("task", "ALL vs healthy white cells"),
        "data": data_label,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "protocol": settings["protocol"],
        "classes": ["healthy", "ALL"],
        "architecture": ", ".join(sorted(architectures)),
        "input_size": input_size,
        "training_scale": scale,
        "training_crops": {str(k): int(v) for k, v in counts.items()},
        "models": [{"fold": int(fold)} for fold in folds],
    }
    card = model_card({**description, "models": list(folds)}, table1, scale, counts)
    try:
        write_bundle(
            out_dir,
            models=[(f"fold{fold}.pt", path) for fold, path in zip(folds, model_paths)],
            files={
                "domain.npz": staging,
                "table1.tsv": Path(table1_path),
                "config.yaml": config_text,
                "MODEL_CARD.md": card,
            },
            manifest=description,
        )
    finally:
        staging.unlink(missing_ok=True)
    log.info("model bundle written to %s (%d models, %s data)", out_dir, len(model_paths), data_label)
    return Path(out_dir)
