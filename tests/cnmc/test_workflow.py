"""The whole C-NMC stage end to end on tiny synthetic data, and the reader's checks it relies on."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from leukoflow.cnmc.report_section import render_cnmc
from leukoflow.core.errors import DatasetError
from leukoflow.data.readers import scan
from leukoflow.data.synthetic import write_cnmc
from leukoflow.report.framework import ReportContext, ReportInputs
from tests.helpers import REPO, run_snakemake

RULES = ("cnmc_crop", "cnmc_subsets", "cnmc_train_backbone", "cnmc_train_combined", "cnmc_predict", "cnmc_tables")


@pytest.mark.slow
def test_cnmc_stage_end_to_end(workdir):
    config = "test_configs/tiny_cnmc.yaml"
    targets = ["results/tables/cnmc_prelim.tsv", "results/tables/cnmc_prelim.html"]
    run_snakemake(workdir, *targets, "--cores", "2", "--configfile", config)
    results = workdir / "results"
    table = pd.read_csv(results / "tables" / "cnmc_prelim.tsv", sep="\t")
    assert table["model"].tolist() == [m for m in ("ensemble", "model-A", "model-B", "combined") for _ in range(3)]
    assert (table["data"] == "synthetic").all() and (table["evaluation"] == "prelim_test").all()
    assert not table["leaky"].any()
    values = table[["precision", "recall", "f1"]].to_numpy(float)
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1
    weighted = table[table["class"] == "weighted avg"]
    assert (weighted["support"] == 4).all()  # 2 prelim subjects x 2 cells
    assert weighted["f1"].notna().all()
    split = json.loads((results / "cnmc" / "split.json").read_text())
    assert split["shared_subjects"] == {"train_val": 0, "train_test": 0, "val_test": 0}
    assert "Table 1" in (results / "tables" / "cnmc_prelim.html").read_text()
    unlabelled = pd.read_csv(results / "cnmc" / "final_phase_predictions.tsv", sep="\t")
    assert len(unlabelled) == 0 and "predicted_class" in unlabelled.columns  # synthetic: no final phase
    for rule in RULES:
        assert list((results / "benchmarks" / rule).glob("*.tsv")), rule
    assert sorted(p.stem for p in (results / "benchmarks" / "cnmc_train_backbone").glob("*.tsv")) == ["A", "B"]
    # the report section renders from these files
    inputs = ReportInputs(
        {
            "cnmc_table": str(results / "tables" / "cnmc_prelim.tsv"),
            "cnmc_subjects": str(results / "tables" / "cnmc_subjects.tsv"),
            "cnmc_split": str(results / "cnmc" / "split.json"),
            "cnmc_predictions": str(results / "cnmc" / "predictions.tsv"),
            "cnmc_curves": str(results / "cnmc" / "learning_curves.png"),
            "cnmc_crop_sheet": str(results / "cnmc" / "crops" / "contact_sheet.png"),
            "cnmc_unlabelled": str(results / "cnmc" / "final_phase_predictions.tsv"),
        }
    )
    sources = {"cnmc": json.loads((results / "manifests" / "cnmc.source.json").read_text())}
    (section,) = render_cnmc(inputs, ReportContext(sources=sources))
    assert "cnmc-table1" in section.body and "synthetic" in section.body
    assert "73 and 28" in section.body  # the subject-count note beside the table


def tiny_dataset(tmp_path):
    settings = yaml.safe_load((REPO / "tests" / "configs" / "tiny_cnmc.yaml").read_text())["synthetic"]["cnmc"]
    return write_cnmc(tmp_path / "cnmc", **settings, seed=1)


def test_class_folder_that_disagrees_with_the_name_stops_with_the_file_named(tmp_path):
    root = tiny_dataset(tmp_path)
    victim = sorted(root.rglob("UID_H*_hem.bmp"))[0]
    moved = victim.parent.parent / "all" / victim.name
    shutil.move(victim, moved)
    with pytest.raises(DatasetError) as info:
        scan("cnmc", root, strict=True)
    assert info.value.path == str(moved) and "labels disagree" in info.value.problem


def test_cell_in_two_folds_stops_with_the_file_named(tmp_path):
    root = tiny_dataset(tmp_path)
    cell = sorted(root.rglob("fold_0/all/UID_*.bmp"))[0]
    other = next(p for p in sorted(root.rglob("fold_*")) if p.is_dir() and p.name != "fold_0")
    copy = other / "all" / cell.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(cell, copy)
    with pytest.raises(DatasetError) as info:
        scan("cnmc", root, strict=True)
    assert info.value.path == str(copy) and "duplicate id" in info.value.problem
