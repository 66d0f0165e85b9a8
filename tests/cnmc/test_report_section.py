"""The report's C-NMC section: the paper beside the ensemble, what was evaluated, leaks shown."""

import json

from leukoflow.cnmc.report_section import render_cnmc
from leukoflow.cnmc.tables import build_table
from leukoflow.core.io import write_table_atomic
from leukoflow.report.framework import ReportContext, ReportInputs
from tests.cnmc.test_tables import predictions


def write_inputs(tmp_path, split):
    table = build_table(predictions(), split, n_boot=50)
    table.insert(0, "data", "synthetic")
    write_table_atomic(table, tmp_path / "table.tsv")
    (tmp_path / "split.json").write_text(json.dumps(split))
    return ReportInputs({"cnmc_table": str(tmp_path / "table.tsv"), "cnmc_split": str(tmp_path / "split.json")})


def test_section_shows_the_paper_and_the_evaluation_set(tmp_path):
    split = {
        "evaluation": "held_out_subjects",
        "evaluation_text": "held-out training subjects (no labelled preliminary test set was found)",
        "protocol": "subject",
        "leaky": False,
        "val_fraction": 0.3,
        "subjects": {"train": 9, "val": 4, "test": 3},
    }
    (section,) = render_cnmc(write_inputs(tmp_path, split), ReportContext())
    assert "held-out training subjects" in section.body and "7:3 split" in section.body
    assert "paper 84.00" in section.body  # the paper's weighted F1 under the ensemble's
    assert "76 training and 30" in section.body and "LEAKY" not in section.body


def test_cell_split_is_flagged_leaky(tmp_path):
    split = {"evaluation": "held_out_cells", "protocol": "cell", "leaky": True, "shared_subjects": {"train_val": 5}}
    (section,) = render_cnmc(write_inputs(tmp_path, split), ReportContext())
    assert "LEAKY" in section.body and "train/val 5" in section.body


def test_no_inputs_no_section():
    assert render_cnmc(ReportInputs({"table2": "x.tsv"}), ReportContext()) == []
