"""The white-cell diameter of a slide from its own nuclei, and the working scale it gives."""

import numpy as np
import pandas as pd
import pytest

from leukoflow.allidb1.cellsize import estimate_cell_diameter, nucleus_radii, settle_diameters, working_scale
from leukoflow.core.io import read_rgb
from leukoflow.data.synthetic import write_allidb1


def test_inscribed_radius_per_component_even_in_a_clump():
    yy, xx = np.mgrid[0:120, 0:200]
    mask = ((xx - 40) ** 2 + (yy - 60) ** 2 <= 20**2) | ((xx - 74) ** 2 + (yy - 60) ** 2 <= 20**2)  # a clump
    mask |= (xx - 150) ** 2 + (yy - 60) ** 2 <= 10**2
    radii = np.sort(nucleus_radii(mask))
    assert radii == pytest.approx([10, 20], abs=1.5)  # the clump's radius is one cell's, not the union's


@pytest.mark.parametrize("seed", [4, 9])
def test_estimate_is_close_to_the_planted_cells(tmp_path, seed):
    data = write_allidb1(tmp_path, n_all=1, n_healthy=0, resolutions=[(1024, 768)], layout="flat", seed=seed)
    cells = pd.read_csv(tmp_path / "truth.tsv", sep="\t")
    diameter, nuclei = estimate_cell_diameter(read_rgb(data / "Im001_1.jpg"))
    assert nuclei >= 3
    assert diameter == pytest.approx(2 * cells["radius"].median(), rel=0.2)


def test_implausible_estimates_take_the_median_of_their_resolution():
    estimates = pd.DataFrame(
        {
            "slide": ["a", "b", "c", "d", "e"],
            "width": [2592, 2592, 2592, 1712, 1712],
            "height": [1944, 1944, 1944, 1368, 1368],
            "estimate_px": [130.0, 140.0, 45.0, 118.0, np.nan],  # c: a neutrophil's lobes; e: no nucleus
            "nuclei": [6, 4, 3, 5, 0],
        }
    )
    settled = settle_diameters(estimates).set_index("slide")
    assert settled.loc["a", "diameter_px"] == 130 and settled.loc["a", "source"] == "own nuclei"
    assert settled.loc["c", "diameter_px"] == 135 and settled.loc["c", "source"] == "median of the 2592x1944 slides"
    assert settled.loc["e", "diameter_px"] == 118
    with pytest.raises(ValueError, match="cell_diameter_px"):
        settle_diameters(estimates[estimates["slide"] == "e"])


def test_no_nuclei_and_the_working_scale():
    blank = np.full((200, 300, 3), 200, np.uint8)
    diameter, nuclei = estimate_cell_diameter(blank)
    assert np.isnan(diameter) and nuclei == 0
    assert working_scale(128.5, 257, 0.5) == pytest.approx(1.0)
    assert working_scale(120, 97, 0.5) == pytest.approx(48.5 / 120)
    with pytest.raises(ValueError):
        working_scale(0, 97, 0.5)
