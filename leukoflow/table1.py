"""Table I of Ghosh et al. 2017 rebuilt from per-fold test predictions, beside the paper's row.

Confidence intervals come from `metrics.binary_metrics` over the test bag's augmented images. The
36 copies of one source cell are not independent observations, so those intervals are too narrow;
the `source_*` columns score each test source once (mean probability over its copies), which is
the number to read when judging how well a method generalises to new cells.
"""

from __future__ import annotations

import html
import logging
from typing import Sequence

import numpy as np
import pandas as pd

from leukoflow.bags import TABLE_I_FOLDS, leak_report
from leukoflow.io import atomic_path, write_table_atomic, write_text_atomic
from leukoflow.metrics import binary_metrics, confusion_counts
from leukoflow.report_html import data_statement

log = logging.getLogger(__name__)

METRICS = ("accuracy", "specificity", "sensitivity", "f_score")


def fold_row(predictions: pd.DataFrame, index: pd.DataFrame, fold: int, protocol: str) -> dict:
    """One Table I row: counts, metrics with 95% CIs, source-level accuracy and the leak count."""
    counts = confusion_counts(predictions["label"], predictions["pred"])
    metrics = binary_metrics(**counts, seed=fold)
    per_source = predictions.groupby("source_id").agg(label=("label", "first"), prob=("prob_all", "mean"))
    source_counts = confusion_counts(per_source["label"], (per_source["prob"] >= 0.5).astype(int))
    source_metrics = binary_metrics(**source_counts, seed=fold)
    leak = leak_report(index["source_id"], index["bag"], fold)
    train, val, test = TABLE_I_FOLDS[fold - 1]
    row = {
        "protocol": protocol,
        "fold": fold,
        "train_bags": ",".join(f"B{b}" for b in train),
        "val_bag": f"B{val}",
        "test_bag": f"B{test}",
        "n_test": len(predictions),
        **{k: counts[k] for k in ("tp", "tn", "fp", "fn")},
    }
    for name in METRICS:
        row[name] = metrics[name]
        row[f"{name}_ci_low"] = metrics[f"{name}_ci_low"]
        row[f"{name}_ci_high"] = metrics[f"{name}_ci_high"]
    row["test_sources"] = len(per_source)
    row["source_accuracy"] = source_metrics["accuracy"]
    row["source_accuracy_ci_low"] = source_metrics["accuracy_ci_low"]
    row["source_accuracy_ci_high"] = source_metrics["accuracy_ci_high"]
    row["test_sources_seen_in_training"] = leak["train_test_shared"]
    return row


def build_table1(
    prediction_paths: Sequence[str], folds: Sequence[int], index: pd.DataFrame, protocol: str, paper: dict
) -> pd.DataFrame:
    rows = []
    for path, fold in zip(prediction_paths, folds):
        predictions = pd.read_csv(path, sep="\t", dtype={"source_id": str})
        rows.append(fold_row(predictions, index, int(fold), protocol))
    table = pd.DataFrame(rows)
    pooled = table[["tp", "tn", "fp", "fn"]].sum()
    pooled_metrics = binary_metrics(**{k: int(v) for k, v in pooled.items()})
    total = {"protocol": protocol, "fold": "all", "n_test": int(table["n_test"].sum()), **pooled.to_dict()}
    for name in METRICS:
        for suffix in ("", "_ci_low", "_ci_high"):
            total[name + suffix] = pooled_metrics[name + suffix]
    total["test_sources_seen_in_training"] = int(table["test_sources_seen_in_training"].sum())
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    for name in ("tp", "tn", "fp", "fn", *METRICS):
        table[f"paper_{name}"] = paper["per_fold"][name]
    table["leaky"] = table["test_sources_seen_in_training"] > 0
    return table


def _fmt_ci(row, name) -> str:
    value, low, high = row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"]
    if pd.isna(value):
        return "n/a"
    return f"{100 * value:.2f} ({100 * low:.1f}–{100 * high:.1f})"


def table1_html(table: pd.DataFrame, protocol: str, data_statement: str, paper_source: str) -> str:
    """Table I as an HTML fragment: ours with 95% CI, the paper's value beside each metric."""
    header = ["Fold", "Train", "Val", "Test", "TP", "TN", "FP", "FN"]
    for name in METRICS:
        header += [f"{name.replace('_', '-').capitalize()} % (95% CI)", "paper"]
    header += ["Source-level accuracy %", "Test sources seen in training"]
    lines = []
    for _, row in table.iterrows():
        cells = [row["fold"], row.get("train_bags", ""), row.get("val_bag", ""), row.get("test_bag", "")]
        cells += [int(row[k]) for k in ("tp", "tn", "fp", "fn")]
        for name in METRICS:
            cells += [_fmt_ci(row, name), f"{100 * row[f'paper_{name}']:.2f}"]
        cells += [
            _fmt_ci(row, "source_accuracy") if "source_accuracy" in row and not pd.isna(row.get("source_accuracy")) else "",
            int(row["test_sources_seen_in_training"]),
        ]
        cls = " class='leak'" if row["leaky"] else ""
        lines.append(
            f"<tr{cls}>" + "".join(f"<td>{html.escape('' if pd.isna(c) else str(c))}</td>" for c in cells) + "</tr>"
        )
    leak_note = (
        "<p class='warning'>PAPER PROTOCOL (leaky): augmented copies of the same source cell are in "
        "the training and the test bags; these scores do not measure generalisation to new cells.</p>"
        if protocol == "paper"
        else "<p>Leak-free protocol: all 36 copies of a source cell are in one bag.</p>"
    )
    return (
        f"<h3>Table I — {html.escape(protocol)}</h3>"
        f"<p class='source'>{html.escape(data_statement)}</p>{leak_note}"
        "<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>"
        "<tbody>" + "".join(lines) + "</tbody></table>"
        f"<p class='note'>Paper values: {html.escape(paper_source)}. Image-level CIs treat the 36 copies "
        "of a cell as independent and are therefore too narrow; source-level accuracy scores each test "
        "cell once.</p>"
    )


def plot_learning_curves(history_paths: Sequence[str], folds: Sequence[int], out_png: str, title: str) -> None:
    """Training and validation loss and accuracy per epoch for every fold (the paper's Fig. 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    for path, fold in zip(history_paths, folds):
        history = pd.read_csv(path)
        colour = colours[(int(fold) - 1) % 10]
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
            ax.plot(history["epoch"], history[f"train_{metric}"], color=colour, lw=1, label=f"fold {fold} train")
            ax.plot(history["epoch"], history[f"val_{metric}"], color=colour, lw=1, ls="--", label=f"fold {fold} val")
    ax_loss.set(xlabel="epoch", ylabel="NLL loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    ax_acc.legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def write_table1(
    *, prediction_paths, history_paths, folds, index_path, source, protocol, paper, table_out, html_out, curves_out
) -> pd.DataFrame:
    index = pd.read_csv(index_path, sep="\t", dtype={"source_id": str})
    table = build_table1(prediction_paths, folds, index, protocol, paper)
    table.insert(1, "data", source["source"])
    write_table_atomic(table, table_out)
    statement = data_statement(source, "ALL-IDB2")
    write_text_atomic(html_out, table1_html(table, protocol, statement, paper["source"]))
    label = " [SYNTHETIC]" if source["source"] == "synthetic" else ""
    leaky = " [PAPER PROTOCOL: LEAKY]" if protocol == "paper" else ""
    plot_learning_curves(history_paths, folds, curves_out, f"ALL-IDB2 learning curves, {protocol}{label}{leaky}")
    log.info("Table I (%s): pooled accuracy %.4f over %d folds", protocol, table.iloc[-1]["accuracy"], len(folds))
    return table
