"""The 50x50 CNN baseline on ALL-IDB1 (Khandelwal et al., after Thanh et al.): whole slides
resized to 50x50, trained with the same leak-free bags, Table I folds and Lightning machinery as
the ALL-IDB2 network; image-level accuracy per fold beside the paper's 92.8%."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from leukoflow.augmented_bags import resize_batch
from leukoflow.bags import TABLE_I_FOLDS, assign_bags, fold_masks, leak_report
from leukoflow.cnn50 import CNN50, INPUT_SIZE
from leukoflow.io import read_rgb, write_table_atomic, write_text_atomic
from leukoflow.metrics import binary_metrics, confusion_counts
from leukoflow.report_html import data_statement
from leukoflow.training import TrainConfig, fit, job_device, load_exported, predict_proba

log = logging.getLogger(__name__)


def slides_at_50(paths: Sequence[str]) -> torch.Tensor:
    """Every slide resized (antialiased) to 50x50, one uint8 (N, 3, 50, 50) tensor."""
    images = [resize_batch(torch.from_numpy(read_rgb(p)).permute(2, 0, 1)[None], INPUT_SIZE) for p in paths]
    return torch.cat(images)


def run_cnn50(
    *, manifest: pd.DataFrame, settings: dict, compute: dict, threads: int, state_root: str, paper: dict,
    source: dict, table_out: str, predictions_out: str, html_out: str,
) -> pd.DataFrame:
    images = slides_at_50(manifest["path"].tolist())
    labels = torch.as_tensor(manifest["label"].to_numpy(np.int64))
    bags = assign_bags(manifest["source_id"], manifest["label"], 5, "leak_free", settings["seed"])
    rows, predictions = [], []
    for fold in settings["folds"]:
        train, val, test = (torch.from_numpy(m) for m in fold_masks(bags, fold))
        if not (val.any() and test.any()):
            raise ValueError(f"cnn50 fold {fold}: empty validation or test bag; ALL-IDB1 needs at least 5 slides")
        cfg = TrainConfig(
            epochs=settings["epochs"], lr=settings["lr"], optimizer=settings["optimizer"], momentum=0.9,
            lr_decay=0.0, batch_size=settings["batch_size"], seed=settings["seed"] + fold,
            accelerator=compute["accelerator"], allow_cpu_fallback=compute["allow_cpu_fallback"], num_threads=threads,
        )
        fold_dir = Path(state_root) / f"fold{fold}"
        fit(CNN50(), images[train], labels[train], images[val], labels[val], cfg, fold_dir,
            fold_dir / "model.pt", fold_dir / "history.csv")
        device = job_device(cfg.accelerator, cfg.allow_cpu_fallback)
        prob = predict_proba(load_exported(fold_dir / "model.pt"), images[test], device=device)[:, 1]
        pred = (prob >= 0.5).astype(int)
        counts = confusion_counts(labels[test].numpy(), pred)
        metrics = binary_metrics(**counts, seed=fold)
        rows.append({"fold": fold, "n_test": int(test.sum()), **counts,
                     **{k: metrics[k] for k in ("accuracy", "accuracy_ci_low", "accuracy_ci_high")},
                     "test_slides_seen_in_training": leak_report(manifest["source_id"], bags, fold)["train_test_shared"]})
        predictions.append(pd.DataFrame({"fold": fold, "slide": manifest["id"][test.numpy()].to_numpy(),
                                         "label": labels[test].numpy(), "prob_all": prob, "pred": pred}))
    table = pd.DataFrame(rows)
    pooled = table[["tp", "tn", "fp", "fn"]].sum()
    metrics = binary_metrics(**{k: int(v) for k, v in pooled.items()})
    table = pd.concat([table, pd.DataFrame([{"fold": "all", "n_test": int(table["n_test"].sum()), **pooled.to_dict(),
                                             **{k: metrics[k] for k in ("accuracy", "accuracy_ci_low", "accuracy_ci_high")},
                                             "test_slides_seen_in_training": 0}])], ignore_index=True)
    table["paper_accuracy"] = paper["values"]["accuracy"]
    table.insert(0, "data", source["source"])
    write_table_atomic(table, table_out)
    write_table_atomic(pd.concat(predictions, ignore_index=True), predictions_out)
    write_text_atomic(html_out, cnn50_html(table, source, paper["source"]))
    log.info("50x50 CNN: pooled accuracy %.3f over folds %s", metrics["accuracy"], list(settings["folds"]))
    return table


def cnn50_html(table: pd.DataFrame, source: dict, paper_source: str) -> str:
    import html

    statement = data_statement(source, "ALL-IDB1")
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            r["fold"], r["n_test"], r["tp"], r["tn"], r["fp"], r["fn"],
            f"{100 * r['accuracy']:.2f} ({100 * r['accuracy_ci_low']:.1f}–{100 * r['accuracy_ci_high']:.1f})",
            f"{100 * r['paper_accuracy']:.1f}")) + "</tr>"
        for _, r in table.iterrows()
    )
    return (
        "<h3>50x50 CNN on whole ALL-IDB1 images (leak-free folds)</h3>"
        f"<p class='source'>{html.escape(statement)}</p><table><thead><tr><th>Fold</th><th>Test slides</th>"
        "<th>TP</th><th>TN</th><th>FP</th><th>FN</th><th>Accuracy % (95% CI)</th><th>paper</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p class='note'>Paper value: {html.escape(paper_source)}.</p>"
    )
