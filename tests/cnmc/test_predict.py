"""Inference picks the most confident model cell by cell."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from leukoflow.cnmc.predict import most_confident, prediction_table
from tests.helpers import REPO


def test_the_most_confident_model_decides():
    # (models A, B, combined) x cells x (HEM, ALL)
    probabilities = np.array(
        [
            [[0.40, 0.60], [0.10, 0.90], [0.50, 0.50]],  # A
            [[0.90, 0.10], [0.30, 0.70], [0.45, 0.55]],  # B
            [[0.30, 0.70], [0.20, 0.80], [0.50, 0.50]],  # combined
        ]
    )
    chosen, ensemble = most_confident(probabilities)
    assert chosen.tolist() == [1, 0, 1]  # B (0.90 HEM), A (0.90 ALL), B (0.55 ALL)
    assert ensemble.argmax(axis=1).tolist() == [0, 1, 1]
    # a majority vote would say ALL for the first cell: the ensemble is not a vote
    assert (probabilities[:, 0].argmax(axis=1) == 1).sum() == 2

    cells = pd.DataFrame({"id": ["a", "b", "c"], "source_id": ["1", "1", "H2"], "label": [0, 1, 0]})
    table = prediction_table(cells, probabilities)
    assert table["chosen_model"].tolist() == ["B", "A", "B"]
    assert table["pred_ensemble"].tolist() == [0, 1, 1]
    assert table["pred_A"].tolist() == [1, 1, 0]  # ties (0.5 / 0.5) go to HEM, the first class
    assert np.allclose(table["prob_all_ensemble"], [0.10, 0.90, 0.55])
    assert np.allclose(table["confidence"], [0.90, 0.90, 0.55])


def test_ties_go_to_the_earlier_model():
    chosen, _ = most_confident(np.array([[[0.2, 0.8]], [[0.8, 0.2]], [[0.2, 0.8]]]))
    assert chosen.tolist() == [0]


def test_shape_is_checked():
    with pytest.raises(ValueError, match="models, cells, classes"):
        most_confident(np.zeros((3, 2)))


def test_prediction_imports_no_lightning():
    code = (
        "import sys, leukoflow.cnmc.predict; "
        "bad = [m for m in sys.modules if m.startswith(('pytorch_lightning', 'lightning'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
