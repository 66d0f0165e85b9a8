"""The report's ALL-IDB2 provenance section: counts from the rule's files, the planted-truth check,
the figure; and Table I's note naming the slide grouping."""

import pandas as pd

from leukoflow.allidb2.report_section import SECTIONS, render_allidb2, render_provenance
from leukoflow.report.framework import ReportContext, ReportInputs

SUMMARY = {
    "crops": 12,
    "slides_searched": 5,
    "matched": 5,
    "ambiguous": 1,
    "not_found": 6,
    "slides_with_matches": 3,
    "min_matched_score": 0.996,
    "matched_threshold": 0.97,
    "margin": 0.05,
    "not_found_threshold": 0.95,
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def write_inputs(tmp_path, summary):
    pd.DataFrame([summary]).to_csv(tmp_path / "summary.tsv", sep="\t", index=False)
    verdicts = ["matched"] * 5 + ["ambiguous"] + ["not found"] * 6
    table = pd.DataFrame(
        {"crop": [f"Im{i:03d}_{int(i <= 6)}" for i in range(1, 13)], "label": [1] * 6 + [0] * 6, "slide": "S1"}
    ).assign(verdict=verdicts)
    table.to_csv(tmp_path / "table.tsv", sep="\t", index=False)
    (tmp_path / "matches.png").write_bytes(PNG)
    return ReportInputs(
        {
            "provenance_summary": str(tmp_path / "summary.tsv"),
            "provenance_table": str(tmp_path / "table.tsv"),
            "provenance_figure": str(tmp_path / "matches.png"),
        }
    )


def test_measured_overlap_is_reported(tmp_path):
    inputs = write_inputs(tmp_path, SUMMARY)
    assert any(spec.claims_key("provenance_summary") for spec in SECTIONS)
    [section] = render_provenance(
        inputs, ReportContext(sources={"allidb2": {"source": "real"}, "allidb1": {"source": "real"}})
    )
    assert "5 of 12 crops matched, from 3 of 5 slides; 1 ambiguous, 6 not found" in section.body
    assert "at least 0.97 and 0.05 above the second-best" in section.body
    assert "Planted truth" not in section.body and "[synthetic]" not in section.body
    assert "<img" in section.body and "provenance-verdicts" in section.body


def test_synthetic_run_shows_the_planted_truth_check(tmp_path):
    planted = {
        **SUMMARY,
        "planted_from_slides": 5,
        "planted_recovered": 5,
        "planted_no_slide": 7,
        "no_slide_not_found": 6,
        "tolerance_px": 3,
    }
    [section] = render_provenance(write_inputs(tmp_path, planted), ReportContext())
    assert "5 of 5 crops cut from a slide found on that slide within 3 px" in section.body
    assert "6 of 7 crops from no slide reported not found" in section.body
    assert "[synthetic]" in section.body
    assert render_provenance(ReportInputs({}), ReportContext()) == []


def test_table1_note_names_the_grouping(tmp_path):
    row = {
        "fold": 1,
        "tp": 1,
        "tn": 1,
        "fp": 0,
        "fn": 0,
        "accuracy": 1.0,
        "specificity": 1.0,
        "sensitivity": 1.0,
        "f_score": 1.0,
        "test_sources_seen_in_training": 0,
        "leaky": False,
    }
    for grouping, words in (("slide", "grouped by slide"), ("source crop", "grouped by source crop")):
        path = tmp_path / f"{grouping}.tsv"
        pd.DataFrame([row, {**row, "fold": "all"}]).assign(grouping=grouping).to_csv(path, sep="\t", index=False)
        [section] = render_allidb2(ReportInputs({"table1_leak_free": str(path)}), ReportContext())
        assert words in section.body
