"""The report's UKM-WBC section: nucleus segmentation per fold beside the paper, the dice-versus-
cross-entropy comparison, the example figure, the three-class classification with its confusion
matrix, and both networks' learning curves.

The segmentation table leads with the paper's 70/30 hold-out (the row beside the paper's values),
then our cross-validation; the classification shows each classifier method (as published, ours)
with its deviations from the paper.

Input keys (all optional): ukm_segmentation, ukm_loss_comparison, ukm_classification,
ukm_predictions_<method>, ukm_unet_curves, ukm_classifier_curves, ukm_panel.
"""

from __future__ import annotations

import pandas as pd

from leukoflow.core.io import write_text_atomic
from leukoflow.core.methods import METHOD_TITLES, METHODS
from leukoflow.data.datasets import DATASETS
from leukoflow.report.figures import classifier_figure
from leukoflow.report.framework import (
    ReportContext,
    ReportInputs,
    SectionSpec,
    deviation_block,
    metric_table,
    read_table,
    synthetic_tag,
)
from leukoflow.report.html import (
    Cell,
    Section,
    figure,
    format_ci,
    format_percent,
    html_table,
    is_missing,
    page,
    paragraph,
    png_data_uri,
)
from leukoflow.ukm.methods import DEVIATIONS
from leukoflow.ukm.paper import CLASSIFICATION, CROSS_ENTROPY_NOTE, IMAGE_COUNT_NOTE, SEGMENTATION

CLASSES = DATASETS["ukm"].classes
SEGMENTATION_COLUMNS = (
    ("pixel_accuracy", "Pixel accuracy"),
    ("dice", "Dice"),
    ("iou", "IoU"),
    ("precision", "Precision"),
    ("recall", "Recall"),
)
MASK_TITLES = {
    "opened": "after 5x5 opening",
    "raw": "U-Net output, before opening",
    "otsu": "global Otsu threshold of the grey image",
}


EVALUATION_TITLES = {
    "holdout": "70/30 hold-out (paper)",
    "cross_validation": "cross-validation (ours)",
    "baseline": "baseline, no training (ours)",
}


def segmentation_block(table: pd.DataFrame, tag: str) -> str:
    table = table.assign(mask=[MASK_TITLES.get(m, m) for m in table["mask"]])
    table = table.assign(evaluation=[EVALUATION_TITLES.get(e, e) for e in table["evaluation"]])
    css = ["pooled" if str(fold) in ("all", "holdout") else "" for fold in table["fold"]]
    return metric_table(
        table,
        table_id="ukm-segmentation",
        columns=[("evaluation", "Evaluation"), ("fold", "Fold"), ("mask", "Mask"), ("n_images", "Test images")],
        metrics=SEGMENTATION_COLUMNS,
        row_css=css,
        caption=f"UKM-WBC nucleus segmentation{tag}. First the paper's protocol: one U-Net trained on the 70% "
        "(the classifier's training images) and scored on the 30% test images after the 5x5 opening; under its "
        f"values, in grey, the paper's ({SEGMENTATION['source']}). Then our cross-validation: each fold's held-out "
        "images after the opening, pooled over folds ('all') after and before it. Last, as a baseline, a global "
        "Otsu threshold of each grey image on the same images: what a U-Net must beat to have learnt anything. "
        "Pixel counts pooled per row; 95% CIs resample source images.",
    )


def comparison_block(table: pd.DataFrame, tag: str) -> str:
    rows = [
        [
            row.loss,
            int(row.fold),
            int(row.n_images),
            Cell(format_ci(row.dice, row.dice_ci_low, row.dice_ci_high), css="metric"),
            Cell(format_ci(row.precision, row.precision_ci_low, row.precision_ci_high), css="metric"),
            Cell(format_ci(row.recall, row.recall_ci_low, row.recall_ci_high), css="metric"),
            format_percent(row.predicted_foreground),
            format_percent(row.true_foreground),
            "yes" if row.collapsed else "no",
            f"{int(row.best_epoch)} / {int(row.epochs_trained)}",
        ]
        for row in table.itertuples()
    ]
    parts = [
        html_table(
            [
                "Loss",
                "Fold",
                "Test images",
                "Dice % [95% CI]",
                "Precision % [95% CI]",
                "Recall % [95% CI]",
                "Predicted nucleus %",
                "True nucleus %",
                "Collapsed",
                "Best / trained epochs",
            ],
            rows,
            table_id="ukm-loss-comparison",
            caption=f"The same U-Net trained with each loss on one fold{tag} (masks before the opening). "
            "Collapsed: it calls fewer than a tenth of the true nucleus pixels nucleus.",
        )
    ]
    by_loss = table.set_index("loss")
    if {"dice", "cross_entropy"} <= set(by_loss.index):
        dice, cross = by_loss.loc["dice"], by_loss.loc["cross_entropy"]
        verdict = (
            "collapsed to background, as the paper reports"
            if cross["collapsed"]
            else "did not collapse to background here (the paper reports that it does on the real data)"
        )
        parts.append(
            paragraph(
                f"Dice versus cross-entropy on fold {int(cross['fold'])}{tag}: Dice {format_percent(dice['dice'])}% with "
                f"dice loss against {format_percent(cross['dice'])}% with cross-entropy, which {verdict}; "
                f"cross-entropy calls {format_percent(cross['predicted_foreground'])}% of pixels nucleus, "
                f"the truth has {format_percent(cross['true_foreground'])}%. {CROSS_ENTROPY_NOTE}"
            )
        )
    return "".join(parts)


def classification_block(table: pd.DataFrame, tag: str, method: str = "ours") -> str:
    header = ["Class", "Precision % [95% CI]", "Recall % [95% CI]", "F1 % [95% CI]", "Crops", "Class weight"]
    header += [f"predicted {name}" for name in CLASSES]
    rows, css = [], []
    for row in table.to_dict("records"):
        name = row["class"]
        is_accuracy = name.startswith("accuracy")
        cells: list[object] = [name]
        if is_accuracy:
            paper = row.get("paper_accuracy")
            note = "" if is_missing(paper) else f"paper about {format_percent(paper, 0)}"
            cells += ["", "", Cell(format_ci(row["f1"], row["f1_ci_low"], row["f1_ci_high"]), "metric", note)]
        else:
            cells += [
                Cell(format_ci(row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"]), "metric")
                for m in ("precision", "recall", "f1")
            ]
        cells.append(int(row["support"]))
        weight = row.get("class_weight")
        cells.append("" if is_missing(weight) else f"{weight:.2f}")
        cells += ["" if is_missing(row.get(f"as_{c}")) else int(row[f"as_{c}"]) for c in CLASSES]
        rows.append(cells)
        css.append("pooled" if is_accuracy else "")
    first = table.iloc[0]
    return html_table(
        header,
        rows,
        table_id=f"ukm-classification-{method}",
        row_css=css,
        caption=f"UKM-WBC three-class classification, {METHOD_TITLES.get(method, method).lower()}{tag}: {int(first['test_crops'])} crops of "
        f"{int(first['test_images'])} test images (70/30 split by source image; "
        f"{int(first['test_images_without_crop'])} test images without a nucleus after the opening, so without a crop). "
        "95% CIs resample source images. 'accuracy per image' scores each image once, by its largest nucleus.",
    )


def imbalance_note(table: pd.DataFrame) -> str:
    counts = CLASSIFICATION["class_counts"]
    total = sum(counts.values())
    published = ", ".join(f"{name} {counts[name]} ({total / (len(counts) * counts[name]):.2f})" for name in CLASSES)
    weights = table.set_index("class").get("class_weight")
    used = (
        "no class weights"
        if weights is None or weights.reindex(list(CLASSES)).isna().all()
        else "class weights " + ", ".join(f"{c} {weights[c]:.2f}" for c in CLASSES)
    )
    return paragraph(
        f"Class imbalance: the published set has {published} images (balanced weight n / (3 n_class) in brackets); "
        f"this run trained with {used} in its negative log-likelihood (ukm.classifier.class_weights).",
        "note",
    )


def render_ukm(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    if not any(key.startswith("ukm_") for key in inputs.paths if inputs.has(key)):
        return []
    tag = synthetic_tag(context, "ukm")
    parts = [
        context.banner("ukm"),
        paragraph(
            "Grey + CLAHE, U-Net nucleus segmentation with dice loss (scored on the paper's 70/30 hold-out and by "
            "our k folds by source image; each image's crops come from the fold that held it out), 5x5 opening, "
            "connected components, one ROI crop per nucleus shifted inside the image, and a CNN for neutrophil / "
            "promyelocyte / lymphoblast, as published and ours side by side; see docs/ukm.md.",
            "note",
        ),
    ]
    subsections = []
    if inputs.has("ukm_segmentation"):
        required = [
            "evaluation",
            "fold",
            "mask",
            "n_images",
            *(f"{m}{s}" for m, _ in SEGMENTATION_COLUMNS for s in ("", "_ci_low", "_ci_high")),
        ]
        parts.append("<h3 id='ukm-seg'>Nucleus segmentation</h3>")
        parts.append(segmentation_block(read_table(inputs.one("ukm_segmentation"), required), tag))
        subsections.append(("ukm-seg", "Nucleus segmentation"))
    if inputs.has("ukm_loss_comparison"):
        table = read_table(
            inputs.one("ukm_loss_comparison"), ["loss", "fold", "dice", "predicted_foreground", "collapsed"]
        )
        parts.append("<h3 id='ukm-loss'>Dice loss versus cross-entropy</h3>" + comparison_block(table, tag))
        subsections.append(("ukm-loss", "Dice loss versus cross-entropy"))
    parts.append(
        inputs.figure(
            "ukm_unet_curves",
            "UKM U-Net learning curves",
            "U-Net learning curves: training (solid) and validation (dashed) loss and Dice per fold and loss.",
        )
    )
    parts.append(
        inputs.figure(
            "ukm_panel",
            "UKM segmentation examples",
            f"Examples{tag}: image, grey + CLAHE, ground truth, U-Net mask, mask after the opening, and the ROI "
            "crops with the classifier's predicted class.",
        )
    )
    if inputs.has("ukm_classification"):
        table = read_table(
            inputs.one("ukm_classification"), ["method", "class", "precision", "recall", "f1", "support"]
        )
        parts.append("<h3 id='ukm-cls'>Classification</h3>" + paragraph(IMAGE_COUNT_NOTE, "note"))
        subsections.append(("ukm-cls", "Classification"))
        for method in [m for m in METHODS if (table["method"] == m).any()]:
            block = table[table["method"] == method].reset_index(drop=True)
            parts.append(
                f"<h4 id='ukm-cls-{method}'>{METHOD_TITLES[method]}</h4>"
                + deviation_block(block, method, DEVIATIONS, "ukm.ours")
            )
            parts.append(classification_block(block, tag, method) + imbalance_note(block))
            key = f"ukm_predictions_{method}"
            if inputs.has(key):
                predictions = read_table(inputs.one(key), ["label", "pred"])
                title = f"UKM-WBC test crops, {METHOD_TITLES[method].lower()}{tag}"
                result = classifier_figure(predictions["label"], predictions["pred"], CLASSES, None, title)
                caption = f"{len(predictions)} test crops, {METHOD_TITLES[method].lower()}."
                parts.append(figure(png_data_uri(result.png), f"UKM confusion matrix, {method}", caption))
    parts.append(
        inputs.figure(
            "ukm_classifier_curves",
            "UKM classifier learning curves",
            "Classifier learning curves: training (solid) and validation (dashed) loss and accuracy.",
        )
    )
    return [Section("ukm", "UKM-WBC: nucleus segmentation and classification", "".join(parts), subsections)]


def write_page(named: dict[str, str], source: dict, html_out: str, title: str) -> None:
    """A stand-alone page with some of the section's inputs (for Snakemake's own report)."""
    sections = render_ukm(ReportInputs(named), ReportContext(sources={"ukm": source}))
    write_text_atomic(html_out, page(title, "", sections))


SECTIONS = [SectionSpec(("ukm_",), render_ukm)]
