"""Screening end to end: the tiny run screens its synthetic smears with its own bundle; a second
run on "another machine" screens them again, with real BCCD smears beside them, from a copy of
the bundle alone (no dataset, no training)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from leukoflow.core.io import read_tsv
from tests import bccd
from tests.helpers import run_snakemake

pytestmark = pytest.mark.slow

CELL_COLUMNS = [
    "image",
    "cell",
    "x",
    "y",
    "x0",
    "y0",
    "x1",
    "y1",
    "diameter_px",
    "p_all",
    "p_all_sd",
    "abnormal",
    "in_domain",
]
IMAGE_COLUMNS = [
    "image", "width", "height", "scale_px_per_rbc", "scale_source", "white_cells", "abnormal_cells",
    "max_p_all", "verdict", "in_domain", "reason",
]  # fmt: skip


def test_the_demo_screens_its_smears(tiny_run):
    screen = tiny_run.results / "screen"
    images = read_tsv(screen / "images.tsv", text_columns=("image", "reason"), keep_default_na=False)
    cells = read_tsv(screen / "cells.tsv", text_columns=("image",))
    assert set(IMAGE_COLUMNS) <= set(images.columns) and set(CELL_COLUMNS) <= set(cells.columns)
    assert len(images) == 2 and set(images["verdict"]) <= {"ALL", "healthy", "not assessed"}
    for image in images["image"]:
        assert (screen / "overlays" / f"{image}.png").stat().st_size > 1000
        document = json.loads((screen / "geojson" / f"{image}.geojson").read_text())
        assert len(document["features"]) == int(images.set_index("image").at[image, "white_cells"])
    # The scale of each smear against the generator's planted red cells.
    truth = pd.read_csv(tiny_run.results / "synthetic" / "screen" / "truth.tsv", sep="\t")
    planted = truth.groupby("image")["red_cell_px"].first()
    measured = images.set_index("path")["scale_px_per_rbc"]
    for name, red in planted.items():
        path = next(p for p in measured.index if p.endswith(name))
        assert measured[path] == pytest.approx(red, rel=0.08)
    # Every planted white cell has one detection at most, and most have one.
    hits = 0
    for name, rows in truth.groupby("image"):
        image = images.loc[images["path"].str.endswith(name), "image"].item()
        mine = cells[cells["image"] == image]
        inside = (
            np.hypot(
                mine["x"].to_numpy()[:, None] - rows["x"].to_numpy(),
                mine["y"].to_numpy()[:, None] - rows["y"].to_numpy(),
            )
            < rows["radius"].to_numpy()
        )
        assert (inside.sum(axis=0) <= 1).all()
        hits += int(inside.any(axis=0).sum())
    assert hits >= 0.8 * len(truth)
    page = (screen / "index.html").read_text()
    assert "synthetic" in page.lower() and "not a diagnosis" in page
    card = (tiny_run.results / "models" / "MODEL_CARD.md").read_text()
    assert "Synthetic demo data" in card and "leak_free" in card


def test_a_copied_bundle_screens_on_another_machine(tiny_run, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_run.results / "models", bundle)
    smears = tmp_path / "smears"
    shutil.copytree(tiny_run.results / "synthetic" / "screen" / "data", smears)
    real = []
    if (bccd.BCCD / "images.txt").is_file():
        (smears / "bccd").mkdir()
        for name in bccd.names()[::60]:
            (smears / "bccd" / f"{name}.jpg").symlink_to(bccd.BCCD / "JPEGImages" / f"{name}.jpg")
            real.append(f"bccd__{name}")
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    (workdir / "screen.yaml").write_text(
        "results: out\n"
        "datasets: {allidb1: {enabled: false}, allidb2: {enabled: false}, cnmc: {enabled: false}, ukm: {enabled: false}}\n"
        f"screen: {{enabled: true, root: {smears}, models: {bundle}, group_size: 4}}\n"
    )
    result = run_snakemake(workdir, "screen_all", "--cores", "2", "--configfile", "screen.yaml")
    assert "screen_bundle" not in result.stdout + result.stderr  # nothing trained, no bundle built
    theirs = read_tsv(
        workdir / "out" / "screen" / "images.tsv", text_columns=("image", "reason"), keep_default_na=False
    )
    ours = read_tsv(tiny_run.results / "screen" / "images.tsv", text_columns=("image", "reason"), keep_default_na=False)
    both = ours.merge(theirs, on="image", suffixes=("_ours", "_theirs"))
    assert len(both) == len(ours)
    assert (both["verdict_ours"] == both["verdict_theirs"]).all()
    assert np.allclose(both["max_p_all_ours"], both["max_p_all_theirs"], atol=1e-3, equal_nan=True)
    # Real normal smears from another microscope, scored by models trained on synthetic crops: never
    # a confident ALL call; the domain check says why.
    for row in theirs[theirs["image"].isin(real)].itertuples():
        assert not (row.verdict == "ALL" and row.in_domain), row
        assert row.verdict == "not assessed" and row.reason
    # A changed bundle is refused, naming the file.
    (bundle / "fold1.pt").write_bytes(b"changed")
    failed = run_snakemake(
        workdir, "screen_all", "--cores", "2", "--configfile", "screen.yaml", "--forcerun", "screen_cells", check=False
    )
    assert failed.returncode != 0 and "fold1.pt: sha256" in failed.stdout + failed.stderr
