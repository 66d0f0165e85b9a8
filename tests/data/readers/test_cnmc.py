"""C-NMC 2019 reader: training folds, labelled prelim test, unlabelled final test; flat and nested."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from leukoflow.core.errors import DatasetError
from leukoflow.data.readers import MANIFEST_COLUMNS, scan

TRAINING = [  # (fold, class folder, stem)
    ("fold_0", "all", "UID_11_1_1_all"),
    ("fold_0", "hem", "UID_H6_1_1_hem"),
    ("fold_1", "all", "UID_12_3_2_all"),
    ("fold_2", "hem", "UID_H10_43_1_hem"),
]
PRELIM = {1: ("UID_57_29_1_all", "1"), 2: ("UID_H30_1_2_hem", "0"), 10: ("UID_58_2_1_all", "1")}
N_FINAL = 3


def write_bmp(path: Path, size: int = 16, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)


@dataclass
class Layout:
    root: Path
    training: Path  # holds fold_*
    prelim: Path  # the numbered prelim images
    csv: Path
    final: Path  # unlabelled numbered images
    bmp_suffix: bool = True

    def write_csv(self, rows: dict[int, tuple[str, str]] | list[tuple[str, str, str]]) -> None:
        if isinstance(rows, dict):
            ext = ".bmp" if self.bmp_suffix else ""
            rows = [(f"{pid}{ext}", f"{n}.bmp", label) for n, (pid, label) in rows.items()]
        self.csv.write_text("Patient_ID,new_names,labels\n" + "".join(",".join(r) + "\n" for r in rows))


def make_cnmc(root: Path, nested: bool = False, bmp_suffix: bool = True, csv_inside: bool = False) -> Layout:
    base = root / "C-NMC_Leukemia" if nested else root
    training = base / "training_data" if nested else base
    validation = base / "validation_data" if nested else base
    testing = base / "testing_data" if nested else base
    prelim = validation / "C-NMC_test_prelim_phase_data"
    csv_dir = prelim if csv_inside else validation
    layout = Layout(
        root=root,
        training=training,
        prelim=prelim,
        csv=csv_dir / "C-NMC_test_prelim_phase_data_labels.csv",
        final=testing / "C-NMC_test_final_phase_data",
        bmp_suffix=bmp_suffix,
    )
    for seed, (fold, folder, stem) in enumerate(TRAINING):
        write_bmp(training / fold / folder / f"{stem}.bmp", seed=seed)
    for number in PRELIM:
        write_bmp(prelim / f"{number}.bmp", seed=100 + number)
    prelim.mkdir(parents=True, exist_ok=True)
    layout.write_csv(PRELIM)
    for number in range(1, N_FINAL + 1):  # same numbers as the prelim set on purpose
        write_bmp(layout.final / f"{number}.bmp", seed=200 + number)
    (validation / "readme.txt").write_text("C-NMC")
    return layout


def expected_rows() -> dict[str, tuple[str, int, str, str]]:
    """id -> (split, label, class_name, source_id)."""
    rows = {}
    for fold, folder, stem in TRAINING:
        label = int(folder == "all")
        rows[stem] = (fold, label, "ALL" if label else "HEM", stem.split("_")[1])
    for number, (patient_id, label) in PRELIM.items():
        rows[f"prelim_{number}"] = (
            "prelim_test",
            int(label),
            "ALL" if label == "1" else "HEM",
            patient_id.split("_")[1],
        )
    return rows


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
@pytest.mark.parametrize("bmp_suffix", [True, False], ids=["id.bmp", "id"])
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "lenient"])
def test_layouts(tmp_path, caplog, nested, bmp_suffix, strict):
    layout = make_cnmc(tmp_path, nested=nested, bmp_suffix=bmp_suffix)
    result = scan("cnmc", tmp_path, strict=strict)
    manifest = result.manifest
    expected = expected_rows()
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest["id"]) == sorted(expected)
    for row in manifest.itertuples():
        assert (row.split, row.label, row.class_name, row.source_id) == expected[row.id]
        assert (row.width, row.height) == (16, 16)
        assert row.annotation == "" and pd.isna(row.n_annotations)
        assert row.sha256 == hashlib.sha256(Path(row.path).read_bytes()).hexdigest()
        if row.split == "prelim_test":
            assert Path(row.path) == layout.prelim / f"{row.id.split('_')[1]}.bmp"
    # The final-phase images are listed, never used, and never stop a strict run.
    assert sorted(result.rejected["path"]) == sorted(str(layout.final / f"{n}.bmp") for n in range(1, N_FINAL + 1))
    assert (result.rejected["problem"] == "unlabelled test image").all()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("numbered test images without a labels CSV" in m for m in warnings) == 1
    assert any(f"{N_FINAL} numbered test images" in m for m in warnings)


def test_labels_csv_with_bom_and_crlf(tmp_path):
    layout = make_cnmc(tmp_path)
    text = layout.csv.read_text()
    layout.csv.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    manifest = scan("cnmc", tmp_path).manifest
    prelim = manifest[manifest["split"] == "prelim_test"]
    assert dict(zip(prelim["id"], prelim["label"])) == {f"prelim_{n}": int(label) for n, (_, label) in PRELIM.items()}


def test_labels_csv_inside_the_prelim_folder(tmp_path):
    make_cnmc(tmp_path, csv_inside=True)
    manifest = scan("cnmc", tmp_path).manifest
    assert (manifest["split"] == "prelim_test").sum() == len(PRELIM)


def test_tcia_layout_with_prelim_images_one_folder_deeper(tmp_path):
    # C-NMC_test_prelim_phase_data/{labels CSV, C-NMC_test_prelim_phase_data/N.bmp}
    outer = tmp_path / "C-NMC_Leukemia" / "C-NMC_test_prelim_phase_data"
    for number in PRELIM:
        write_bmp(outer / "C-NMC_test_prelim_phase_data" / f"{number}.bmp")
    Layout(tmp_path, tmp_path, outer, outer / "C-NMC_test_prelim_phase_data_labels.csv", tmp_path).write_csv(PRELIM)
    for fold, folder, stem in TRAINING:
        write_bmp(tmp_path / "C-NMC_Leukemia" / "C-NMC_training_data" / fold / folder / f"{stem}.bmp")
    result = scan("cnmc", tmp_path)
    assert list(result.manifest["id"]) == sorted(expected_rows())
    assert result.rejected.empty


def test_training_only_without_prelim(tmp_path):
    for fold, folder, stem in TRAINING:
        write_bmp(tmp_path / fold / folder / f"{stem}.bmp")
    manifest = scan("cnmc", tmp_path).manifest
    assert sorted(manifest["split"].unique()) == ["fold_0", "fold_1", "fold_2"]


def test_only_unlabelled_images_is_an_empty_dataset(tmp_path):
    for number in range(1, 4):
        write_bmp(tmp_path / "C-NMC_test_final_phase_data" / f"{number}.bmp")
    with pytest.raises(DatasetError) as info:
        scan("cnmc", tmp_path)
    assert info.value.path == str(tmp_path)
    assert "no cnmc images found (3 files rejected)" in info.value.problem


def test_subject_in_training_and_prelim_warns(tmp_path, caplog):
    layout = make_cnmc(tmp_path)
    layout.write_csv({**PRELIM, 1: ("UID_11_29_1_all", "1")})
    scan("cnmc", tmp_path)
    assert any("subjects in both training folds and the prelim test: 11" in m for m in caplog.messages)


# --- problems: each returns (path named, problem fragment, ids that must disappear) ------------


def _folder_vs_h_prefix(layout):
    path = layout.training / "fold_0" / "all" / "UID_H7_1_1_all.bmp"
    write_bmp(path)
    return path, "subject 'H7' says HEM", set()


def _folder_vs_suffix(layout):
    path = layout.training / "fold_1" / "all" / "UID_13_1_1_hem.bmp"
    write_bmp(path)
    return path, "name suffix says HEM", set()


def _hem_folder_without_h(layout):
    path = layout.training / "fold_1" / "hem" / "UID_13_1_1_hem.bmp"
    write_bmp(path)
    return path, "labels disagree: class folder 'hem' says HEM", set()


def _training_name(layout):
    path = layout.training / "fold_2" / "all" / "cell_7.bmp"
    write_bmp(path)
    return path, "does not parse as UID_<subject>", set()


def _training_type(layout):
    path = layout.training / "fold_2" / "all" / "UID_13_1_1_all.png"
    write_bmp(path)
    return path, "unexpected image type '.png'", set()


def _stray_image(layout):
    path = layout.root / "preview.png"
    write_bmp(path)
    return path, "not a C-NMC image", set()


def _duplicate_across_folds(layout):
    path = layout.training / "fold_2" / "all" / "UID_11_1_1_all.bmp"
    write_bmp(path)
    return path, "duplicate id 'UID_11_1_1_all'", {"UID_11_1_1_all"}


def _truncated(layout):
    path = layout.training / "fold_0" / "all" / "UID_11_1_1_all.bmp"
    write_bmp(path, size=64)
    path.write_bytes(path.read_bytes()[:1000])
    return path, "unreadable or truncated image", {"UID_11_1_1_all"}


def _prelim_image_not_in_csv(layout):
    path = layout.prelim / "99.bmp"
    write_bmp(path)
    return path, "not listed in labels file", set()


def _prelim_non_numbered(layout):
    path = layout.prelim / "UID_5_1_1_all.bmp"
    write_bmp(path)
    return path, "expected a numbered test image N.bmp", set()


def _csv_row_without_file(layout):
    layout.write_csv({**PRELIM, 50: ("UID_60_1_1_all", "1")})
    return layout.csv, "line 5: 50.bmp has no image file", set()


def _label_not_binary(layout):
    layout.write_csv({**PRELIM, 2: ("UID_H30_1_2_hem", "2")})
    return layout.prelim / "2.bmp", "line 3: label '2' is not 0 or 1", {"prelim_2"}


def _patient_id_unparsable(layout):
    layout.write_csv({**PRELIM, 10: ("patient58", "1")})
    return layout.prelim / "10.bmp", "Patient_ID 'patient58.bmp' does not parse", {"prelim_10"}


def _prelim_label_vs_patient_id(layout):
    layout.write_csv({**PRELIM, 1: ("UID_57_29_1_all", "0")})
    return layout.prelim / "1.bmp", "labels column says HEM, name suffix says ALL", {"prelim_1"}


def _new_name_repeated(layout):
    rows = [(f"{pid}.bmp", f"{n}.bmp", label) for n, (pid, label) in PRELIM.items()]
    layout.write_csv(rows + [("UID_57_30_1_all.bmp", "1.bmp", "1")])
    return layout.prelim / "1.bmp", "listed 2 times in labels file", {"prelim_1"}


def _new_name_unparsable(layout):
    rows = [(f"{pid}.bmp", f"{n}.bmp", label) for n, (pid, label) in PRELIM.items()]
    layout.write_csv(rows + [("UID_57_30_1_all.bmp", "first.bmp", "1")])
    return layout.csv, "line 5: new_names 'first.bmp' is not N.bmp", set()


def _csv_missing_column(layout):
    layout.csv.write_text("Patient_ID,new_names\nUID_57_29_1_all.bmp,1.bmp\n")
    return layout.csv, "lacks columns ['labels']", {f"prelim_{n}" for n in PRELIM}


BAD_INPUTS = {
    f.__name__.strip("_"): f
    for f in (
        _folder_vs_h_prefix,
        _folder_vs_suffix,
        _hem_folder_without_h,
        _training_name,
        _training_type,
        _stray_image,
        _duplicate_across_folds,
        _truncated,
        _prelim_image_not_in_csv,
        _prelim_non_numbered,
        _csv_row_without_file,
        _label_not_binary,
        _patient_id_unparsable,
        _prelim_label_vs_patient_id,
        _new_name_repeated,
        _new_name_unparsable,
        _csv_missing_column,
    )
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_strict(tmp_path, case):
    layout = make_cnmc(tmp_path, nested=True)
    path, fragment, _ = BAD_INPUTS[case](layout)
    with pytest.raises(DatasetError) as info:
        scan("cnmc", tmp_path)
    assert info.value.path == str(path)
    assert fragment in info.value.problem
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_non_strict(tmp_path, case):
    layout = make_cnmc(tmp_path, nested=False)
    path, fragment, removed = BAD_INPUTS[case](layout)
    result = scan("cnmc", tmp_path, strict=False)
    problems = result.rejected[result.rejected["problem"] != "unlabelled test image"]
    named = problems[problems["path"] == str(path)]
    assert len(named) == 1 and fragment in named["problem"].iloc[0]
    assert set(result.manifest["id"]) == set(expected_rows()) - removed
    if case == "csv_missing_column":  # the prelim images it should have labelled are listed too
        unlabelled = problems[problems["path"] != str(path)]
        assert sorted(unlabelled["path"]) == sorted(str(layout.prelim / f"{n}.bmp") for n in PRELIM)
        assert unlabelled["problem"].str.contains("could not be read").all()
