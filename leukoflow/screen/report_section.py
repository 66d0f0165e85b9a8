"""The screening's part of the workflow report: the verdict counts, the images in review order,
and where the review page is (the page itself, with overlays and the gallery, is
`results/screen/index.html`)."""

from __future__ import annotations

from leukoflow.report.framework import ReportContext, ReportInputs, SectionSpec
from leukoflow.report.html import Section, frame_table, paragraph
from leukoflow.screen.files import VERDICTS

SHOWN = ["image", "verdict", "reason", "white_cells", "abnormal_cells", "max_p_all", "scale_px_per_rbc", "scale_source"]


def render_screen(inputs: ReportInputs, context: ReportContext) -> list[Section]:
    from leukoflow.core.io import read_tsv

    if not inputs.has("screen_images"):
        return []
    images = read_tsv(inputs.one("screen_images"), text_columns=("image", "reason", "scale_source"))
    counts = images["verdict"].value_counts()
    summary = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
    body = paragraph(
        f"{len(images)} smears screened: {summary}. Research use only: a verdict ranks smears for review, it "
        "is not a diagnosis. The review page with overlays, QuPath GeoJSON and the gallery of abnormal cells "
        "is results/screen/index.html; the models' data and limits are in results/models/MODEL_CARD.md."
    ) + frame_table(images.reindex(columns=SHOWN).head(50), table_id="screen-table", caption="In review order")
    return [Section("screen", "Screening of new smears", body)]


SECTIONS = [SectionSpec(("screen_images", "screen_cells", "screen_page"), render_screen)]
