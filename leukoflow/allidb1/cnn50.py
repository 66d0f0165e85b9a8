"""The 50x50 CNN baseline on ALL-IDB1 (Khandelwal et al., after Thanh et al.): whole slides
resized to 50x50, trained with the same leak-free bags, Table I folds and Lightning machinery as
the ALL-IDB2 network; image-level accuracy per fold beside the paper's 92.8%."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from leukoflow.allidb1.paper import CNN50 as CNN50_PAPER
from leukoflow.core.device import job_device
from leukoflow.core.evaluation import binary_row, with_pooled_row
from leukoflow.core.images import resize_batch
from leukoflow.core.io import read_rgb, write_table_atomic
from leukoflow.core.splits import BAG_FOLDS, assign_bags, fold_masks, leak_report
from leukoflow.inference import load_exported, predict_proba
from leukoflow.nets.cnn50 import CNN50, INPUT_SIZE
from leukoflow.training.config import TrainConfig, runtime_settings
from leukoflow.training.fit import fit

log = logging.getLogger(__name__)


def slides_at_50(paths: Sequence[str]) -> torch.Tensor:
    """Every slide resized (antialiased) to 50x50, one uint8 (N, 3, 50, 50) tensor."""
    images = [resize_batch(torch.from_numpy(read_rgb(p)).permute(2, 0, 1)[None], INPUT_SIZE) for p in paths]
    return torch.cat(images)


def run_cnn50(
    *,
    manifest: pd.DataFrame,
    settings: dict,
    compute: dict,
    threads: int,
    state_root: str,
    source: dict,
    table_out: str,
    predictions_out: str,
    paper: dict = CNN50_PAPER,
) -> pd.DataFrame:
    """Train and test the 50x50 CNN on every configured fold; write the table and predictions."""
    images = slides_at_50(manifest["path"].tolist())
    labels = torch.as_tensor(manifest["label"].to_numpy(np.int64))
    bags = assign_bags(manifest["source_id"], manifest["label"], 5, "leak_free", settings["seed"])
    rows, predictions = [], []
    for fold in settings["folds"]:
        train, val, test = (torch.from_numpy(m) for m in fold_masks(bags, fold))
        if not (val.any() and test.any()):
            raise ValueError(f"cnn50 fold {fold}: empty validation or test bag; ALL-IDB1 needs at least 5 slides")
        cfg = TrainConfig(
            epochs=settings["epochs"],
            lr=settings["lr"],
            optimizer=settings["optimizer"],
            momentum=0.9,
            lr_decay=0.0,
            batch_size=settings["batch_size"],
            seed=settings["seed"] + fold,
            **runtime_settings(compute, threads, progress_bar=False),
        )
        fold_dir = Path(state_root) / f"fold{fold}"
        fit(
            CNN50(),
            images[train],
            labels[train],
            images[val],
            labels[val],
            cfg,
            fold_dir,
            fold_dir / "model.pt",
            fold_dir / "history.csv",
        )
        device = job_device(cfg.accelerator, cfg.allow_cpu_fallback)
        prob = predict_proba(load_exported(fold_dir / "model.pt"), images[test], device=device)[:, 1]
        pred = (prob >= 0.5).astype(int)
        leaks = leak_report(manifest["source_id"], bags, fold)["train_test_shared"]
        rows.append(
            {
                "fold": fold,
                **binary_row(labels[test].numpy(), pred, seed=fold, metrics=("accuracy",)),
                "test_slides_seen_in_training": leaks,
                "test_bag": f"B{BAG_FOLDS[fold - 1][2]}",
            }
        )
        predictions.append(
            pd.DataFrame(
                {
                    "fold": fold,
                    "slide": manifest["id"][test.numpy()].to_numpy(),
                    "label": labels[test].numpy(),
                    "prob_all": prob,
                    "pred": pred,
                }
            )
        )
    table = with_pooled_row(
        rows, sum_columns=("n_test", "test_slides_seen_in_training"), metrics=("accuracy",), paper=paper["values"]
    )
    table.insert(0, "data", source["source"])
    write_table_atomic(table, table_out)
    write_table_atomic(pd.concat(predictions, ignore_index=True), predictions_out)
    log.info("50x50 CNN: pooled accuracy %.3f over folds %s", table.iloc[-1]["accuracy"], list(settings["folds"]))
    return table
