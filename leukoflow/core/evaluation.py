"""From predictions to a results table: one row per fold, a pooled row, the paper's values beside.

    rows = [binary_row(labels, predictions, fold=k, seed=k) | extras for k in folds]
    table = with_pooled_row(rows, sum_columns=("n_test", "leaks"), paper=PAPER_PER_FOLD)

Every binary table of the workflow (Table I, the 50x50 CNN, Table II) goes through here, so they
share their metrics, intervals and the meaning of the pooled row:
  * the pooled row sums the folds' confusion counts and recomputes every metric and interval
    from the sums; columns named in `sum_columns` (test sizes, leak counts) are summed too;
  * in schemes where one test set serves two folds (BAG_FOLDS tests each bag twice, with two
    different models) the pooled counts hold each test image twice: the pooled point estimate
    is the mean over folds, but its interval treats the copies as independent and is too
    narrow. `pooled_note` says so in words for the table's caption;
  * paper columns: a per-fold row gets the paper's per-fold values; the pooled row gets the
    paper's counts summed over the same folds (per-fold counts x number of folds) and its rates
    unchanged, so a pooled row never shows per-fold counts as if they were pooled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from leukoflow.core.metrics import BINARY_METRIC_NAMES, binary_metrics, confusion_counts

COUNTS = ("tp", "tn", "fp", "fn")
POOLED = "all"


def binary_row(labels, predictions, *, seed: int = 0, metrics: Sequence[str] = BINARY_METRIC_NAMES) -> dict:
    """Confusion counts, n_test and each metric with its 95% CI for one set of predictions.

    Parameters
    ----------
    labels, predictions : array-like
        True and predicted classes, 1 = positive.
    seed : int
        Seed of the F-score's interval (posterior draws, `metrics.binary_metrics`).
    metrics : sequence of str
        Which of `core.metrics.BINARY_METRIC_NAMES` to include (with `_ci_low`, `_ci_high`).
    """
    counts = confusion_counts(labels, predictions)
    values = binary_metrics(**counts, seed=seed)
    row = {"n_test": int(sum(counts.values())), **counts}
    for name in metrics:
        for suffix in ("", "_ci_low", "_ci_high"):
            row[name + suffix] = values[name + suffix]
    return row


def with_pooled_row(
    rows: Sequence[Mapping],
    *,
    key: str = "fold",
    sum_columns: Sequence[str] = ("n_test",),
    metrics: Sequence[str] = BINARY_METRIC_NAMES,
    paper: Mapping[str, float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The per-fold rows, then a pooled row (`key` = "all"); paper columns when `paper` is given.

    Parameters
    ----------
    rows : sequence of mappings
        One per fold, each with the confusion counts (`binary_row` output plus any extras).
    key : str
        The column naming the fold; the pooled row holds "all" there.
    sum_columns : sequence of str
        Further columns summed into the pooled row (e.g. test sizes, leak counts).
    metrics : sequence of str
        Metrics recomputed from the pooled counts.
    paper : mapping, optional
        The paper's per-fold values (`tp`..`fn` and metrics); see the module docstring.

    Returns
    -------
    pandas.DataFrame
        Columns of the rows, `paper_<name>` columns when `paper` is given.
    """
    table = pd.DataFrame(list(rows))
    if table.empty:
        raise ValueError("with_pooled_row needs at least one fold row")
    counts = {name: int(table[name].sum()) for name in COUNTS}
    values = binary_metrics(**counts, seed=seed)
    pooled: dict = {key: POOLED, **counts}
    for name in sum_columns:
        pooled[name] = int(table[name].sum())
    for name in metrics:
        for suffix in ("", "_ci_low", "_ci_high"):
            pooled[name + suffix] = values[name + suffix]
    table = pd.concat([table, pd.DataFrame([pooled])], ignore_index=True)
    if paper is not None:
        is_pooled = (table[key].astype(str) == POOLED).to_numpy()
        n_folds = len(table) - 1
        for name in (*COUNTS, *metrics):
            if name not in paper:
                continue
            value = paper[name]
            pooled_value = value * n_folds if name in COUNTS else value
            table[f"paper_{name}"] = np.where(is_pooled, pooled_value, value)
    return table


def pooled_note(fold_test_sets: Sequence) -> str:
    """One sentence on what the pooled interval means for these folds' test sets (bag ids, ...)."""
    used = pd.Series(list(fold_test_sets)).value_counts()
    if (used > 1).any():
        return (
            f"The pooled row sums the folds' counts; {int((used > 1).sum())} test set(s) serve more than one fold "
            "(each time scored by a different model), so their images count once per fold: the pooled estimate "
            "is the mean over folds, and its interval, which treats those repeats as independent, is too narrow."
        )
    return "The pooled row sums the folds' counts; every test image counts once."
