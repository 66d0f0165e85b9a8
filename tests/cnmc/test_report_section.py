"""The report's C-NMC section: the paper beside the ensemble, what was evaluated, leaks shown."""

import json

from leukoflow.cnmc import methods as cnmc_methods
from leukoflow.cnmc.report_section import render_cnmc
from leukoflow.cnmc.tables import build_table
from leukoflow.core.io import write_table_atomic
from leukoflow.report.framework import ReportContext, ReportInputs
from tests.cnmc.test_tables import predictions


def write_inputs(tmp_path, split, methods=("ours",)):
    paths = {}
    for method in methods:
        deviations = cnmc_methods.deviations(
            {"ours": {"threshold": "background", "backbone": "efficientnet_lite0"}, "as_published": {}}, method
        )
        table = build_table(predictions(), split, n_boot=50, method=method, deviations=deviations)
        table.insert(0, "data", "synthetic")
        write_table_atomic(table, tmp_path / f"table_{method}.tsv")
        (tmp_path / "split.json").write_text(json.dumps(split))
        paths[f"cnmc_table_{method}"] = str(tmp_path / f"table_{method}.tsv")
        paths[f"cnmc_split_{method}"] = str(tmp_path / "split.json")
    return ReportInputs(paths)


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


def test_both_methods_side_by_side_with_their_deviations(tmp_path):
    split = {"evaluation": "prelim_test", "protocol": "subject", "leaky": False}
    (section,) = render_cnmc(write_inputs(tmp_path, split, ("as_published", "ours")), ReportContext())
    body = section.body
    assert body.index("id='cnmc-methods'") < body.index("id='cnmc-as_published'") < body.index("id='cnmc-ours'")
    assert "cnmc-table1-as_published" in body and "cnmc-table1-ours" in body
    # as published: every switch at the paper's value; ours: both deviations, each with its reason
    published = body[body.index("id='cnmc-as_published'") : body.index("id='cnmc-ours'")]
    ours = body[body.index("id='cnmc-ours'") :]
    assert "Every switch at the paper" in published
    assert "<code>threshold: background</code>" in ours and "<code>backbone: efficientnet_lite0</code>" in ours
    assert "three-class Otsu" in ours and "synthetic" in ours and "&lt;path&gt;" in ours  # escaped
    assert [s[0] for s in section.subsections] == ["cnmc-side-by-side", "cnmc-as_published", "cnmc-ours"]


def test_deviations_follow_the_switches():
    config = {"ours": {"threshold": "background", "backbone": "efficientnet_lite0"}, "as_published": {}}
    assert cnmc_methods.deviations(config, "as_published") == []
    assert [d[:2] for d in cnmc_methods.deviations(config, "ours")] == [
        ("threshold", "background"),
        ("backbone", "efficientnet_lite0"),
    ]
    replaced = {**config, "as_published": {"backbone": "efficientnet_lite0"}}
    assert [d[:2] for d in cnmc_methods.deviations(replaced, "as_published")] == [("backbone", "efficientnet_lite0")]
    assert cnmc_methods.step_settings({**config, "crop": {"size": 64}}, "as_published", "crop") == {
        "size": 64,
        "threshold": "otsu",
    }
    import pytest

    with pytest.raises(ValueError, match="unknown switches"):
        cnmc_methods.switches({"ours": {"thresh": "otsu"}}, "ours")


def test_protocol_table_shows_the_leak_and_its_size(tmp_path):
    import numpy as np

    from leukoflow.cnmc.protocols import inflation, protocol_table
    from tests.cnmc.test_protocols import predictions as protocol_predictions
    from tests.cnmc.test_protocols import split as protocol_split

    rng = np.random.default_rng(1)
    runs = {
        "cell": (
            protocol_predictions(rng, {"held_out": 2.5, "test": 0.5}),
            protocol_split("cell", {"test": "prelim_test", "held_out": "held_out_cells"}, {"train_held_out": 6}),
        ),
        "subject": (protocol_predictions(rng, {"test": 1.0}), protocol_split("subject", {"test": "prelim_test"}, {})),
    }
    table = protocol_table(runs, n_boot=50)
    table.insert(0, "method", "ours")
    write_table_atomic(table, tmp_path / "protocols.tsv")
    split = {"evaluation": "prelim_test", "protocol": "subject", "leaky": False}
    inputs = write_inputs(tmp_path, split)
    inputs = ReportInputs(
        {
            **{k: inputs.one(k) for k in ("cnmc_table_ours", "cnmc_split_ours")},
            "cnmc_protocols": str(tmp_path / "protocols.tsv"),
        }
    )
    (section,) = render_cnmc(inputs, ReportContext())
    block = section.body[section.body.index("id='cnmc-splits'") : section.body.index("id='cnmc-ours'")]
    assert block.count("<tr class='leak'>") == 2  # the two rows of the split by cell
    assert "held-out cells of its training subjects" in block and "6 of 6" in block and "0 of 6" in block
    gap = inflation(table)
    assert f"{100 * gap['weighted_f1']:+.1f} points of weighted F1" in block and gap["weighted_f1"] > 0
    assert ("cnmc-splits", "Split by subject against split by cell") in section.subsections
