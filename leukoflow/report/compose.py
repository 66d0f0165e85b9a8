"""The HTML report (`results/report/index.html`): one self-contained page, figures embedded.

Rule `report` passes NAMED inputs (each rule file declares its own, see `workflow/rules/*.smk`);
each value is a path or a list of paths. Every key is optional: a section is rendered only when
its keys are present, so a stage that did not run leaves no empty section behind. Which keys a
section reads is listed in its package's `report_section.SECTIONS`; input keys that no section
claims are logged as a warning, so a forgotten renderer is noticed.

  data      sources, summary_counts, summary_sizes, summary_sheets, summary_rejected
  allidb2   table1_<protocol>, curves_<protocol>, predictions_<protocol>, filters_*,
            provenance_table, provenance_summary, provenance_figure
  allidb1   table2, slide_verdicts, cells, cells_per_slide, allidb1_localisation, allidb1_cell_sizes,
            panel_<slide>, cnn50, cnn50_predictions
  cnmc      cnmc_table, cnmc_subjects, cnmc_split, cnmc_predictions, cnmc_curves, cnmc_crop_sheet,
            cnmc_unlabelled, each suffixed by the method (_as_published, _ours); cnmc_protocols
  screen    screen_images, screen_cells, screen_page
  ukm       ukm_segmentation, ukm_loss_comparison, ukm_classification, ukm_predictions,
            ukm_unet_curves, ukm_classifier_curves, ukm_panel

Provenance (config, git commit, package versions, device, run span, per-job time and memory from
the `benchmark:` files) is always the last section. This module is the only one that imports the
dataset packages' sections; nothing but the report rule imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from leukoflow.allidb1 import report_section as allidb1_section
from leukoflow.allidb2 import report_section as allidb2_section
from leukoflow.cnmc import report_section as cnmc_section
from leukoflow.core.io import write_text_atomic
from leukoflow.data import report_section as data_section
from leukoflow.report.framework import ReportContext, ReportInputs, SectionSpec
from leukoflow.report.html import Section, page
from leukoflow.report.provenance import collect_provenance, render_provenance, timestamp
from leukoflow.screen import report_section as screen_section
from leukoflow.ukm import report_section as ukm_section

log = logging.getLogger(__name__)

SECTIONS: list[SectionSpec] = [
    *data_section.SECTIONS,
    *allidb2_section.SECTIONS,
    *allidb1_section.SECTIONS,
    *cnmc_section.SECTIONS,
    *ukm_section.SECTIONS,
    *screen_section.SECTIONS,
]
"""Page order: data first, then each dataset's sections."""


def unclaimed_keys(inputs: ReportInputs, sections: Sequence[SectionSpec] = SECTIONS) -> list[str]:
    return [key for key in inputs.paths if not any(spec.claims_key(key) for spec in sections)]


def render_report(inputs: ReportInputs, context: ReportContext, title: str = "leukoflow report") -> str:
    for key in unclaimed_keys(inputs):
        log.warning(
            "report input %r is shown by no section (add a renderer to its package's report_section.SECTIONS)", key
        )
    sections: list[Section] = []
    for spec in SECTIONS:
        sections += spec.render(inputs, context)
    if context.provenance is not None:
        sections.append(render_provenance(context.provenance))
    config = context.provenance.config if context.provenance else {}
    kinds = {s.get("source") for s in context.sources.values()}
    data_kind = (
        "synthetic demo data, not a reproduction"
        if kinds == {"synthetic"}
        else "real data"
        if kinds == {"real"}
        else "mixed real and synthetic data (see Data sources)"
        if kinds
        else "data source unknown"
    )
    label = config.get("run_label")
    generated = timestamp(context.provenance.generated_at) if context.provenance else ""
    subtitle = " · ".join(str(s) for s in (label, data_kind, f"written {generated}" if generated else "") if s)
    from leukoflow.report.summary import render_summary

    return page(title, subtitle, sections, summary=render_summary(inputs, context))


def write_report(
    *,
    inputs: Mapping[str, str | Sequence[str]],
    config: dict,
    workflow_dir: str,
    benchmarks_dir: str,
    html_out: str,
    exclude_benchmarks: Sequence[str] = (),
) -> str:
    """Render and write the report; returns the HTML."""
    report_inputs = ReportInputs(inputs)
    context = ReportContext(
        sources=data_section.load_sources(report_inputs.many("sources")),
        provenance=collect_provenance(config, workflow_dir, benchmarks_dir, exclude_benchmarks),
    )
    document = render_report(report_inputs, context)
    write_text_atomic(html_out, document)
    log.info("report written to %s (%d bytes)", html_out, len(document.encode()))
    return document
