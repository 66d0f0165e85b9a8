"""The synthetic C-NMC 2019 layout: training folds of segmented cells on black, the preliminary
test set with its labels CSV, and the planted difficulty (class overlap, subject effects).
Shared plumbing (streams, staging, checks) lives in `writers`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from leukoflow.core.errors import ConfigError
from leukoflow.data.synthetic.field import render_segmented_cell
from leukoflow.data.synthetic.smear import sample_stain
from leukoflow.data.synthetic.writers import (
    _CNMC,
    check_count,
    check_seed,
    image_rng,
    save_image,
    save_text,
    staged_data,
    write_truth,
)

CNMC_FOLDS = 3
CNMC_PRELIM_DIR = "C-NMC_test_prelim_phase_data"
CNMC_PRELIM_CSV = "C-NMC_test_prelim_phase_data_labels.csv"
# Extra keys of the C-NMC streams: a subject's look and a cell's class swap draw from their own
# streams, so the difficulty settings never change the cells drawn without them.
_SUBJECT_STREAM, _SWAP_STREAM = 10**6, 10**6 + 1


def cnmc_cell_names(rng: np.random.Generator, subject: str, n_cells: int, tag: str) -> list[str]:
    """`UID_<subject>_<image>_<cell>_<tag>.bmp` names: cells grouped 1-4 per source image."""
    names, image, cell = [], 1, 0
    per_image = int(rng.integers(1, 5))
    for _ in range(n_cells):
        if cell == per_image:
            image, cell, per_image = image + 1, 0, int(rng.integers(1, 5))
        cell += 1
        names.append(f"UID_{subject}_{image}_{cell}_{tag}.bmp")
    return names


def write_cnmc(
    out_dir: str | Path,
    *,
    subjects_all: int,
    subjects_hem: int,
    cells_per_subject: int,
    prelim_subjects: int,
    cells_per_prelim_subject: int,
    size: int = 450,
    nested: bool = False,
    overlap: float = 0.0,
    subject_effect: float = 0.0,
    seed: int = 0,
) -> Path:
    """Training folds `fold_{0,1,2}/{all,hem}/UID_*.bmp` plus the preliminary test set.

    Difficulty (both 0 by default: every cell looks like its class, each its own stain):
    `overlap` is the share of each subject's cells drawn with the other class's morphology (an
    ALL subject's cell that looks like a normal lymphocyte, and the reverse), labelled by the
    subject as C-NMC labels cells; `subject_effect` in [0, 1] gives each subject one stain, cell
    size and focus shared by all its cells (scaled by it), so that a split by cell lets a model
    recognise subjects, and a split by subject does not. truth.tsv holds each cell's drawn
    `kind` and its `label`.

    Subjects are dealt to the three folds whole (never split across folds), each class
    separately so every fold holds both. ALL subjects are numbered 1.., healthy ones H1..;
    preliminary-test subjects continue both numberings, so they never occur in training. The
    preliminary cells are renamed 1.bmp.. in shuffled order and listed in the labels CSV with
    their original UID name. `prelim_subjects=0` writes no preliminary set.
    """
    subjects_all = check_count("cnmc", "subjects_all", subjects_all)
    subjects_hem = check_count("cnmc", "subjects_hem", subjects_hem)
    cells_per_subject = check_count("cnmc", "cells_per_subject", cells_per_subject, 1)
    prelim_subjects = check_count("cnmc", "prelim_subjects", prelim_subjects)
    cells_per_prelim = check_count("cnmc", "cells_per_prelim_subject", cells_per_prelim_subject, 1)
    size = check_count("cnmc", "size", size, 64)
    seed = check_seed("cnmc", seed)
    if subjects_all + subjects_hem == 0:
        raise ConfigError("synthetic.cnmc: subjects_all + subjects_hem must be at least 1")
    for name, value in (("overlap", overlap), ("subject_effect", subject_effect)):
        if not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"synthetic.cnmc.{name}: expected a share in [0, 1], got {value!r}")

    order_rng = image_rng(seed, _CNMC, 0)
    all_ids = [str(i) for i in range(1, subjects_all + 1)]
    hem_ids = [f"H{i}" for i in range(1, subjects_hem + 1)]
    folds = {}
    for ids in (all_ids, hem_ids):
        for position, subject in enumerate(order_rng.permutation(ids) if ids else []):
            folds[str(subject)] = position % CNMC_FOLDS
    prelim_all = prelim_all_subjects(prelim_subjects)
    prelim_ids = [str(subjects_all + i) for i in range(1, prelim_all + 1)]
    prelim_ids += [f"H{subjects_hem + i}" for i in range(1, prelim_subjects - prelim_all + 1)]

    def subject_key(subject: str) -> int:
        # ALL subject n -> n, healthy subject Hn -> 10^6 + n: one random stream each.
        return int(subject[1:]) + 1_000_000 if subject.startswith("H") else int(subject)

    def subject_look(key: int) -> dict:
        """The stain, size and focus shared by a subject's cells (none without a subject effect)."""
        if subject_effect <= 0:
            return {}
        rng = image_rng(seed, _CNMC, key, _SUBJECT_STREAM)
        # Strong enough that a CNN can tell subjects apart by stain (at 1.2 it could not, and a split
        # by cell scored no higher than one by subject); the size effect stays small, as a larger one
        # hides the class morphology from new subjects.
        stain = sample_stain(rng, variation=0.3 + 2.2 * subject_effect)
        stain = replace(stain, blur_sigma=stain.blur_sigma + subject_effect * rng.uniform(0.0, 1.2) * size / 160)
        return {"stain": stain, "scale": 1.0 + subject_effect * rng.uniform(-0.15, 0.15)}

    def cell(key: int, index: int, kind: str):
        """(rgb, drawn kind) of one cell of a subject whose class looks like `kind`."""
        drawn = kind
        if overlap > 0 and image_rng(seed, _CNMC, key, index, _SWAP_STREAM).random() < overlap:
            drawn = "lymphocyte" if kind == "lymphoblast" else "lymphoblast"
        return render_segmented_cell(image_rng(seed, _CNMC, key, index), drawn, size, **looks[key]).rgb, drawn

    looks: dict[int, dict] = {}
    rows = []
    with staged_data(out_dir) as data:
        root = data / "C-NMC_Leukemia" if nested else data
        train_dir = root / "training_data" if nested else root
        prelim_parent = root / "validation_data" if nested else root
        for subject in all_ids + hem_ids:
            key = subject_key(subject)
            tag, kind = ("hem", "lymphocyte") if subject.startswith("H") else ("all", "lymphoblast")
            folder = train_dir / f"fold_{folds[subject]}" / tag
            names = cnmc_cell_names(image_rng(seed, _CNMC, key), subject, cells_per_subject, tag)
            looks[key] = subject_look(key)
            for index, name in enumerate(names):
                rgb, drawn = cell(key, index, kind)
                save_image(rgb, folder / name, format="BMP")
                rows.append(dict(id=name[: -len(".bmp")], kind=drawn, label=int(tag == "all")))
        if prelim_ids:
            cells = []
            for subject in prelim_ids:
                key = subject_key(subject)
                tag, kind = ("hem", "lymphocyte") if subject.startswith("H") else ("all", "lymphoblast")
                names = cnmc_cell_names(image_rng(seed, _CNMC, key), subject, cells_per_prelim, tag)
                looks[key] = subject_look(key)
                cells += [(name, kind, key, index, int(tag == "all")) for index, name in enumerate(names)]
            lines = ["Patient_ID,new_names,labels\n"]
            for new_number, position in enumerate(order_rng.permutation(len(cells)), start=1):
                name, kind, key, index, label = cells[position]
                rgb, drawn = cell(key, index, kind)
                save_image(rgb, prelim_parent / CNMC_PRELIM_DIR / f"{new_number}.bmp", format="BMP")
                lines.append(f"{name},{new_number}.bmp,{label}\n")  # the subject's class, as C-NMC labels
                rows.append(dict(id=f"prelim_{new_number}", kind=drawn, label=label))
            save_text("".join(lines), prelim_parent / CNMC_PRELIM_CSV)
    write_truth(out_dir, rows, ["id", "kind", "label"])
    return Path(out_dir) / "data"


def prelim_all_subjects(prelim_subjects: int) -> int:
    """How many preliminary-test subjects have ALL: about 60 % (the real set is 65 % ALL cells),
    at least one of each class when there are two or more subjects."""
    if prelim_subjects <= 1:
        return prelim_subjects
    return int(min(max(round(0.6 * prelim_subjects), 1), prelim_subjects - 1))
