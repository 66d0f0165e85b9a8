"""The synthetic UKM-WBC difficulty settings plant what they say (data/synthetic/writers.write_ukm).

overlap: look-alike morphology between neutrophils and promyelocytes, labelled by the folder;
uneven_light: a gradient a global threshold cannot follow; touching_red: red cells over the
cytoplasm. Each is checked against the plain images drawn from the same seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skimage.filters import threshold_otsu

from leukoflow.core.errors import ConfigError
from leukoflow.core.io import read_rgb
from leukoflow.data.synthetic import write_ukm
from leukoflow.data.synthetic.field import CYTOPLASM, render_crop
from leukoflow.data.synthetic.writers import image_rng


def otsu_dice(root) -> float:
    """Pooled Dice of a global Otsu threshold of the grey image against the nucleus masks."""
    tp = predicted = truth = 0
    for image_path in sorted(root.glob("*/images/*.png")):
        grey = read_rgb(image_path).astype(np.float32) @ np.float32([0.2125, 0.7154, 0.0721])
        mask = read_rgb(image_path.parent.parent / "masks" / image_path.name)[..., 0] > 0
        dark = grey < threshold_otsu(grey)
        tp += int((dark & mask).sum())
        predicted += int(dark.sum())
        truth += int(mask.sum())
    return 2 * tp / (predicted + truth)


def test_overlap_swaps_only_the_look_alike_pair_and_keeps_the_labels(tmp_path):
    write_ukm(tmp_path, per_class=40, size=64, overlap=0.3, seed=1)
    truth = pd.read_csv(tmp_path / "truth.tsv", sep="\t")
    assert truth["id"].str.split("/").str[0].tolist() == truth["kind"].tolist()  # labelled by the folder
    swapped = truth["drawn"] != truth["kind"]
    blasts = truth["kind"] == "lymphoblast"
    assert not swapped[blasts].any()
    assert 0.18 <= swapped[~blasts].mean() <= 0.42  # 80 cells, p = 0.3
    pairs = set(zip(truth.loc[swapped, "kind"], truth.loc[swapped, "drawn"]))
    assert pairs == {("neutrophil", "promyelocyte"), ("promyelocyte", "neutrophil")}


def test_uneven_light_defeats_a_global_threshold(tmp_path):
    plain = write_ukm(tmp_path / "plain", per_class=6, size=128, seed=2)
    uneven = write_ukm(tmp_path / "uneven", per_class=6, size=128, uneven_light=0.6, seed=2)
    for name in ("neutrophil/masks/neutrophil_0001.png", "lymphoblast/masks/lymphoblast_0006.png"):
        assert np.array_equal(read_rgb(plain / name), read_rgb(uneven / name))  # same cells, other light
    plain_dice, uneven_dice = otsu_dice(plain), otsu_dice(uneven)
    assert plain_dice >= 0.85, plain_dice
    assert uneven_dice <= plain_dice - 0.15, (plain_dice, uneven_dice)


def test_touching_red_cells_darken_the_cytoplasm():
    # Red cells kept clear of the white cell leave its cytoplasm pale; pressed against it they
    # lie over it. Which red cells are kept shifts the random stream, so compare over seeds.
    def cytoplasm_grey(clearance: float) -> float:
        means = []
        for key in range(8):
            field = render_crop(image_rng(0, key), "neutrophil", 96, red_cell_clearance=clearance)
            means.append(field.rgb.astype(float).mean(axis=2)[field.regions == CYTOPLASM].mean())
        return float(np.mean(means))

    assert cytoplasm_grey(0.4) < cytoplasm_grey(1.0) - 5


def test_touching_red_applies_to_its_share_of_images(tmp_path):
    plain = write_ukm(tmp_path / "plain", per_class=10, size=64, seed=3)
    touching = write_ukm(tmp_path / "touching", per_class=10, size=64, touching_red=0.5, seed=3)
    changed = [
        not np.array_equal(read_rgb(path), read_rgb(touching / path.relative_to(plain)))
        for path in sorted(plain.glob("*/images/*.png"))
    ]
    assert 0.2 <= np.mean(changed) <= 0.8, np.mean(changed)  # 30 images, p = 0.5


@pytest.mark.parametrize("name", ["overlap", "uneven_light", "touching_red"])
def test_difficulty_settings_are_shares(tmp_path, name):
    with pytest.raises(ConfigError, match=f"synthetic.ukm.{name}"):
        write_ukm(tmp_path, per_class=1, **{name: 1.5})
    assert not (tmp_path / "data").exists()
