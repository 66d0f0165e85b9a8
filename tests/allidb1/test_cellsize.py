"""The white-cell diameter of a slide from its red cells, and the working scale it gives."""

import numpy as np
import pandas as pd
import pytest

from leukoflow.allidb1.cellsize import estimate_cell_diameter, settle_diameters, working_scale
from leukoflow.core.io import read_rgb
from leukoflow.data.synthetic import write_allidb1
from leukoflow.slides.scale import WHITE_PER_RED


@pytest.mark.parametrize("seed", [4, 9])
def test_estimate_is_close_to_the_planted_cells(tmp_path, seed):
    data = write_allidb1(tmp_path, n_all=0, n_healthy=1, resolutions=[(1024, 768)], layout="flat", seed=seed)
    cells = pd.read_csv(tmp_path / "truth.tsv", sep="\t")
    row = estimate_cell_diameter(read_rgb(data / "Im001_0.jpg"))
    assert row["reliable"] and row["red_cells"] >= 20
    # A healthy slide: lymphocytes and lobed neutrophils, the case the nucleus-based estimate halved.
    assert row["estimate_px"] == pytest.approx(2 * cells["radius"].median(), rel=0.15)
    assert row["estimate_px"] == pytest.approx(WHITE_PER_RED * row["red_cell_px"], abs=0.1)
    assert row["white_cells"] >= 1 and 0.6 < row["nucleus_to_red"] < 2.6


def test_implausible_estimates_take_the_median_of_their_resolution():
    estimates = pd.DataFrame(
        {
            "slide": ["a", "b", "c", "d", "e"],
            "width": [2592, 2592, 2592, 1712, 1712],
            "height": [1944, 1944, 1944, 1368, 1368],
            "estimate_px": [130.0, 140.0, 45.0, 118.0, np.nan],  # c: a wild estimate; e: no ruler
        }
    )
    settled = settle_diameters(estimates).set_index("slide")
    assert settled.loc["a", "diameter_px"] == 130 and settled.loc["a", "source"] == "own red cells"
    assert settled.loc["c", "diameter_px"] == 135 and settled.loc["c", "source"] == "median of the 2592x1944 slides"
    assert settled.loc["e", "diameter_px"] == 118
    with pytest.raises(ValueError, match="cell_diameter_px"):
        settle_diameters(estimates[estimates["slide"] == "e"])


def test_no_red_cells_and_the_working_scale():
    blank = np.full((200, 300, 3), 200, np.uint8)
    row = estimate_cell_diameter(blank)
    assert np.isnan(row["estimate_px"]) and not row["reliable"] and row["white_cells"] == 0
    assert working_scale(128.5, 257, 0.5) == pytest.approx(1.0)
    assert working_scale(120, 97, 0.5) == pytest.approx(48.5 / 120)
    with pytest.raises(ValueError):
        working_scale(0, 97, 0.5)
