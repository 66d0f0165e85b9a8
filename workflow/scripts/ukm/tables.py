"""Rule ukm_tables: counts, predictions, histories -> segmentation, loss-comparison and
classification tables (TSV + HTML pages), learning curves and the example figure."""

from leukoflow.data.manifest import read_source
from leukoflow.runtime import job
from leukoflow.ukm.figures import write_panel
from leukoflow.ukm.report_section import write_page
from leukoflow.ukm.tables import write_ukm_tables


def main(smk, log):
    source = read_source(smk.input.source)
    write_ukm_tables(
        counts_path=smk.input.counts,
        main_loss=smk.params.main_loss,
        folds=list(smk.params.folds),
        unet_histories=dict(zip(smk.params.runs, smk.input.unet_histories)),
        compare_fold=smk.params.compare_fold,
        predictions_paths=dict(zip(smk.params.methods, smk.input.predictions)),
        classifier_histories=dict(zip(smk.params.methods, smk.input.classifier_histories)),
        classifier_models=dict(zip(smk.params.methods, smk.input.classifier_models)),
        deviations={method: [tuple(d) for d in smk.params.deviations[method]] for method in smk.params.methods},
        index_path=smk.input.index,
        source=source,
        segmentation_out=smk.output.segmentation,
        comparison_out=smk.output.comparison,
        classification_out=smk.output.classification,
        unet_curves_out=smk.output.unet_curves,
        classifier_curves_out=smk.output.classifier_curves,
    )
    synthetic = " [SYNTHETIC]" if source["source"] == "synthetic" else ""
    write_panel(
        examples_path=smk.input.examples,
        index_path=smk.input.index,
        crops_path=smk.input.crops,
        crops_index_path=smk.input.crops_index,
        predictions_path=smk.input.predictions[smk.params.methods.index(smk.params.panel_method)],
        out_png=smk.output.panel,
        title=f"UKM-WBC examples{synthetic}",
    )
    segmentation = {"ukm_segmentation": smk.output.segmentation, "ukm_loss_comparison": smk.output.comparison}
    write_page(segmentation, source, smk.output.segmentation_html, "UKM-WBC nucleus segmentation")
    classification = {
        "ukm_classification": smk.output.classification,
        **{f"ukm_predictions_{m}": path for m, path in zip(smk.params.methods, smk.input.predictions)},
    }
    write_page(classification, source, smk.output.classification_html, "UKM-WBC classification")


job.run(snakemake, main)  # noqa: F821
