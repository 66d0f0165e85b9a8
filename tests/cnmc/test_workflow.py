"""The whole C-NMC stage end to end on tiny synthetic data, and the reader's checks it relies on."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import f1_score, roc_auc_score

from leukoflow.cnmc.report_section import render_cnmc
from leukoflow.core.errors import DatasetError
from leukoflow.data.readers import scan
from leukoflow.data.synthetic import write_cnmc
from leukoflow.report.framework import ReportContext, ReportInputs
from tests.helpers import REPO, run_snakemake

RULES = (
    "cnmc_crop",
    "cnmc_subsets",
    "cnmc_train_backbone",
    "cnmc_train_combined",
    "cnmc_predict",
    "cnmc_tables",
    "cnmc_protocols",
)
RUN = "split_by_subject"  # the run behind Table 1


@pytest.mark.slow
def test_cnmc_stage_end_to_end(workdir):
    config = "test_configs/tiny_cnmc.yaml"
    targets = [f"results/tables/cnmc_prelim_{m}.{ext}" for m in ("as_published", "ours") for ext in ("tsv", "html")]
    targets.append("results/tables/cnmc_protocols.tsv")
    run_snakemake(workdir, *targets, "--cores", "2", "--configfile", config)
    results = workdir / "results"
    for method in ("as_published", "ours"):
        table = pd.read_csv(results / "tables" / f"cnmc_prelim_{method}.tsv", sep="\t", keep_default_na=False)
        models = ("ensemble", "model-A", "model-B", "combined")
        assert table["model"].tolist() == [m for m in models for _ in range(3)]
        assert (table["data"] == "synthetic").all() and (table["evaluation"] == "prelim_test").all()
        assert (table["method"] == method).all()
        assert table["leaky"].astype(str).eq("False").all()
        values = table[["precision", "recall", "f1"]].replace("", np.nan).to_numpy(float)
        assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1
        weighted = table[table["class"] == "weighted avg"]
        assert (weighted["support"].astype(int) == 4).all()  # 2 prelim subjects x 2 cells
        split = json.loads((results / "cnmc" / method / RUN / "split.json").read_text())
        assert split["shared_subjects"] == {"train_val": 0, "train_test": 0, "val_test": 0}
        assert "Table 1" in (results / "tables" / f"cnmc_prelim_{method}.html").read_text()
        unlabelled = pd.read_csv(results / "cnmc" / method / RUN / "final_phase_predictions.tsv", sep="\t")
        assert len(unlabelled) == 0 and "predicted_class" in unlabelled.columns  # synthetic: no final phase
    # Each method says how it departs from the paper: ours by both switches, the as-published run by
    # the backbone this config replaces; the crops were cut with each method's threshold.
    deviations = {
        m: pd.read_csv(results / "tables" / f"cnmc_prelim_{m}.tsv", sep="\t")["deviations"].iloc[0]
        for m in ("as_published", "ours")
    }
    assert deviations == {
        "as_published": "backbone=efficientnet_lite0",
        "ours": "threshold=background; backbone=efficientnet_lite0",
    }
    thresholds = {
        m: set(pd.read_csv(results / "cnmc" / m / "crops" / "cells.tsv", sep="\t")["threshold"]) for m in deviations
    }
    assert thresholds == {"as_published": {"otsu"}, "ours": {"background"}}
    for method in ("as_published", "ours"):
        check_ensemble_and_split(results / "cnmc" / method / RUN)
    check_protocol_table(results)
    for rule in RULES:
        assert list((results / "benchmarks" / rule).rglob("*.tsv")), rule
    backbone_runs = sorted(
        p.relative_to(results / "benchmarks" / "cnmc_train_backbone").as_posix()
        for p in (results / "benchmarks" / "cnmc_train_backbone").rglob("*.tsv")
    )
    assert backbone_runs == [
        f"{m}/split_by_{split}/{model}.tsv"
        for m, split in (("as_published", "subject"), ("ours", "cell"), ("ours", "subject"))
        for model in ("A", "B")
    ]
    # the report section renders from these files, both methods side by side
    inputs = ReportInputs(
        {
            f"cnmc_{key}_{m}": str(path)
            for m in ("as_published", "ours")
            for key, path in {
                "table": results / "tables" / f"cnmc_prelim_{m}.tsv",
                "subjects": results / "tables" / f"cnmc_subjects_{m}.tsv",
                "split": results / "cnmc" / m / RUN / "split.json",
                "predictions": results / "cnmc" / m / RUN / "predictions.tsv",
                "curves": results / "cnmc" / m / "learning_curves.png",
                "crop_sheet": results / "cnmc" / m / "crops" / "contact_sheet.png",
                "unlabelled": results / "cnmc" / m / RUN / "final_phase_predictions.tsv",
            }.items()
        }
        | {"cnmc_protocols": str(results / "tables" / "cnmc_protocols.tsv")}
    )
    sources = {"cnmc": json.loads((results / "manifests" / "cnmc.source.json").read_text())}
    (section,) = render_cnmc(inputs, ReportContext(sources=sources))
    for element in ("cnmc-table1-as_published", "cnmc-table1-ours", "cnmc-methods", "cnmc-protocols", "synthetic"):
        assert element in section.body, element
    assert "73 and 28" in section.body  # the subject-count note beside the table
    assert "not the paper" in section.body  # values from other sources say so


def check_ensemble_and_split(folder):
    """Recompute, from the raw columns, what the pipeline wrote: the most-confident ensemble from
    the three models' P(ALL), and the subject overlap from the roles of every cell."""
    predictions = pd.read_csv(folder / "predictions.tsv", sep="\t", dtype={"source_id": str})
    members = ("A", "B", "combined")
    p_all = predictions[[f"prob_all_{m}" for m in members]].to_numpy(float)
    confidence = np.maximum(p_all, 1 - p_all)
    chosen = confidence.argmax(axis=1)  # first maximum: ties go to the earlier model
    assert predictions["chosen_model"].tolist() == [members[c] for c in chosen]
    expected = p_all[np.arange(len(p_all)), chosen]
    np.testing.assert_allclose(predictions["prob_all_ensemble"], expected, atol=1e-6)
    assert (predictions["pred_ensemble"] == (expected > 0.5).astype(int)).all()  # argmax: a tie is HEM
    for m in members:
        assert (predictions[f"pred_{m}"] == (predictions[f"prob_all_{m}"] > 0.5).astype(int)).all()
    # Subjects on two sides of the split, counted from the per-cell roles (not from split.json).
    roles = pd.read_csv(folder / "subsets.tsv", sep="\t", dtype={"source_id": str}, keep_default_na=False)
    subjects = {role: set(roles.loc[roles["role"] == role, "source_id"]) for role in ("train", "val", "test")}
    assert not subjects["train"] & subjects["val"] and not subjects["train"] & subjects["test"]
    assert not subjects["val"] & subjects["test"]
    assert set(predictions["source_id"]) == subjects["test"]  # the scored cells are the test subjects'
    # Sets A and B: the same HEM part, complementary ALL halves.
    train = roles[roles["role"] == "train"]
    hem = train[train["class_name"] == "HEM"]
    assert (hem["set_a"] == "both").all() and (hem["set_b"] == "both").all()
    everything = train[train["class_name"] == "ALL"]
    assert set(zip(everything["set_a"], everything["set_b"])) <= {("original", "augmented"), ("augmented", "original")}


def check_protocol_table(results):
    """The protocol table recomputed from the two runs' cells: who was scored, how many of them the
    models trained on (from the per-cell roles), and each ensemble row's F1 and AUC."""
    table = pd.read_csv(results / "tables" / "cnmc_protocols.tsv", sep="\t")
    ensemble = table[table["model"] == "ensemble"]
    assert list(zip(ensemble["protocol"], ensemble["scored_on"], strict=True)) == [
        ("subject", "prelim_test"),
        ("cell", "held_out_cells"),
        ("cell", "prelim_test"),
    ]
    for _, row in ensemble.iterrows():
        folder = results / "cnmc" / "ours" / f"split_by_{row['protocol']}"
        roles = pd.read_csv(folder / "subsets.tsv", sep="\t", dtype={"source_id": str}, keep_default_na=False)
        predictions = pd.read_csv(folder / "predictions.tsv", sep="\t", dtype={"source_id": str})
        role = "held_out" if row["scored_on"] == "held_out_cells" else "test"
        cells = predictions[predictions["role"] == role]
        assert sorted(cells["id"]) == sorted(roles.loc[roles["role"] == role, "id"])
        trained_on = set(roles.loc[roles["role"] == "train", "source_id"])
        assert row["subjects_seen_in_training"] == len(set(cells["source_id"]) & trained_on)
        assert row["weighted_f1"] == pytest.approx(f1_score(cells["label"], cells["pred_ensemble"], average="weighted"))
        if cells["label"].nunique() == 2:
            assert row["auc"] == pytest.approx(roc_auc_score(cells["label"], cells["prob_all_ensemble"]))
    seen = dict(zip(ensemble["scored_on"] + "/" + ensemble["protocol"], ensemble["subjects_seen_in_training"]))
    assert seen["prelim_test/subject"] == seen["prelim_test/cell"] == 0
    assert seen["held_out_cells/cell"] > 0  # the leak the row stands for
    assert ensemble["leaky"].tolist() == [False, True, True]


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
