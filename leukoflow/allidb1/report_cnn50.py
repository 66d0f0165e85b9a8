"""The report's section on the 50x50 CNN baseline of Khandelwal et al. (after Thanh et al.) on
whole ALL-IDB1 slides: accuracy per leak-free fold and pooled, confusion matrix and ROC."""

from __future__ import annotations

from leukoflow.allidb1.paper import CNN50
from leukoflow.core.evaluation import pooled_note
from leukoflow.core.io import write_text_atomic
from leukoflow.data.datasets import DATASETS
from leukoflow.report.figures import RocCurve, classifier_figure
from leukoflow.report.framework import (
    ReportContext,
    ReportInputs,
    confusion_cells,
    metric_table,
    read_table,
    synthetic_tag,
)
from leukoflow.report.html import Section, figure, format_percent, page, paragraph, png_data_uri

CLASSES = DATASETS["allidb1"].classes


def render_cnn50(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not (inputs.has("cnn50") or inputs.has("cnn50_predictions")):
        return []
    tag = synthetic_tag(context, "allidb1")
    parts = [context.banner("allidb1")]
    paper = CNN50
    if paper:
        parts.append(
            paragraph(
                f"Paper value: {paper.get('source', '?')}: accuracy "
                f"{format_percent(paper.get('values', {}).get('accuracy'), 1)}%.",
                "note",
            )
        )
    if inputs.has("cnn50"):
        table = read_table(inputs.one("cnn50"), ["fold", "n_test", "tp", "tn", "fp", "fn", "accuracy"])
        css = ["pooled" if fold == "all" else "" for fold in table["fold"].astype(str)]
        trailing = [(c, "Test slides seen in training") for c in ("test_slides_seen_in_training",) if c in table]
        parts.append(
            metric_table(
                table.assign(counts=confusion_cells(table)),
                table_id="cnn50",
                columns=[("fold", "Fold"), ("n_test", "Test slides"), ("counts", "TP / TN / FP / FN")],
                metrics=(("accuracy", "Accuracy"),),
                trailing=trailing,
                row_css=css,
                caption=f"50x50 CNN on whole ALL-IDB1 images{tag}, leak-free folds, then pooled ('all'); "
                "under our accuracy, in grey, the paper's.",
            )
        )
        if "test_bag" in table:
            parts.append(
                paragraph(pooled_note(table.loc[table["fold"].astype(str) != "all", "test_bag"].tolist()), "note")
            )
    if inputs.has("cnn50_predictions"):
        predictions = read_table(inputs.one("cnn50_predictions"), ["label", "prob_all", "pred"])
        result = classifier_figure(
            predictions["label"],
            predictions["pred"],
            CLASSES,
            {"test slides": RocCurve(predictions["label"].to_numpy(), predictions["prob_all"].to_numpy(float))},
            f"ALL-IDB1 50x50 CNN{tag}, test slides pooled over folds",
        )
        auc = result.aucs["test slides"]
        parts.append(
            figure(
                png_data_uri(result.png),
                "confusion matrix and ROC cnn50",
                f"{len(predictions)} test slides: AUC "
                + ("undefined (one class only)" if auc is None else f"{auc:.3f}")
                + ".",
            )
        )
    return [Section("cnn50", "ALL-IDB1: 50x50 CNN baseline", "".join(parts))]


def write_cnn50_page(table_path: str, predictions_path: str, source: dict, html_out: str) -> None:
    """A stand-alone page with the 50x50 CNN's table, confusion matrix and ROC."""
    context = ReportContext(sources={"allidb1": source})
    sections = render_cnn50(ReportInputs({"cnn50": table_path, "cnn50_predictions": predictions_path}), context)
    write_text_atomic(html_out, page("ALL-IDB1 50x50 CNN", "", sections))
