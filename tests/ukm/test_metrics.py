"""The numbers of the UKM tables: the dice loss on known masks, and segmentation and classification
metrics that agree with scikit-learn (and MONAI's Dice)."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    jaccard_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)

from leukoflow.core.segmentation_metrics import pixel_counts, segmentation_metrics
from leukoflow.training.systems import segmentation_loss
from leukoflow.ukm.tables import CLASSES, PER_IMAGE, classification_table, loss_comparison_table, segmentation_table

SATURATED = 30.0  # a logit whose sigmoid is 1 (or 0) to float precision


def test_dice_loss_on_known_masks():
    truth = torch.zeros((1, 1, 10, 10))
    truth[..., :4, :5] = 1  # 20 pixels
    predicted = torch.zeros_like(truth)
    predicted[..., 2:6, :5] = 1  # 20 pixels, 10 of them shared
    loss = segmentation_loss("dice")
    logits = (2 * predicted - 1) * SATURATED
    assert loss(logits, truth).item() == pytest.approx(1 - 2 * 10 / (20 + 20), abs=1e-5)
    assert loss((2 * truth - 1) * SATURATED, truth).item() == pytest.approx(0.0, abs=1e-5)
    assert loss(-SATURATED * torch.ones_like(truth), truth).item() == pytest.approx(1.0, abs=1e-5)
    # Soft Dice on probabilities: logit 0 is 0.5 everywhere -> 1 - 2 * (0.5 * 20) / (50 + 20).
    assert loss(torch.zeros_like(truth), truth).item() == pytest.approx(1 - 20 / 70, abs=1e-5)
    # The batch mean of per-image losses.
    both = loss(torch.cat([logits, (2 * truth - 1) * SATURATED]), torch.cat([truth, truth]))
    assert both.item() == pytest.approx(0.25, abs=1e-5)


def random_masks(seed=0, n=6, size=24):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, size, size)) < 0.2
    predicted = truth ^ (rng.random((n, size, size)) < 0.1)
    return predicted, truth


def test_segmentation_metrics_agree_with_scikit_learn_and_monai():
    predicted, truth = random_masks()
    counts = pixel_counts(predicted, truth)
    values = segmentation_metrics(counts, n_boot=50)
    p, t = predicted.ravel(), truth.ravel()
    assert values["pixel_accuracy"] == pytest.approx(accuracy_score(t, p))
    assert values["dice"] == pytest.approx(f1_score(t, p))
    assert values["iou"] == pytest.approx(jaccard_score(t, p))
    assert values["precision"] == pytest.approx(precision_score(t, p))
    assert values["recall"] == pytest.approx(recall_score(t, p))
    per_image = [f1_score(t_i.ravel(), p_i.ravel()) for p_i, t_i in zip(predicted, truth)]
    assert values["mean_dice"] == pytest.approx(np.mean(per_image))
    from monai.metrics import compute_dice

    monai_dice = compute_dice(torch.from_numpy(predicted[:, None]).float(), torch.from_numpy(truth[:, None]).float())
    assert values["mean_dice"] == pytest.approx(monai_dice.mean().item(), abs=1e-6)


def counts_frame(predicted, truth, loss="dice", fold=1, mask="opened"):
    frame = pd.DataFrame(pixel_counts(predicted, truth), columns=["tp", "fp", "fn", "tn"])
    return frame.assign(
        loss=loss, fold=fold, mask=mask, row=range(len(frame)), source_id=[f"s{i}" for i in range(len(frame))]
    )


def test_holdout_row_leads_and_alone_carries_the_paper():
    first, second = random_masks(0), random_masks(1)
    counts = pd.concat(
        [
            counts_frame(*first, fold=1),
            counts_frame(*second, fold=2),
            counts_frame(*first, fold=1, mask="raw"),
            counts_frame(*second, fold=2, mask="raw"),
            counts_frame(*second, fold=0),  # the 70/30 hold-out U-Net, scored on the test images
        ]
    )
    table = segmentation_table(counts, "dice")
    assert table["fold"].tolist() == ["holdout", "1", "2", "all", "all"]
    assert table["evaluation"].tolist() == ["holdout", *["cross_validation"] * 4]
    holdout = table.iloc[0]
    expected = pixel_counts(*second).sum(axis=0)
    assert [holdout[k] for k in ("tp", "fp", "fn", "tn")] == expected.tolist()
    # the hold-out is not pooled into the cross-validation rows
    pooled = table[(table["fold"] == "all") & (table["mask"] == "opened")].iloc[0]
    assert pooled["tp"] == pixel_counts(*first)[:, 0].sum() + pixel_counts(*second)[:, 0].sum()
    assert holdout["paper_dice"] == pytest.approx(0.348) and table["paper_dice"].iloc[1:].isna().all()


def test_threshold_baseline_row_comes_last_pooled_over_its_own_counts():
    first, second, otsu = random_masks(0), random_masks(1), random_masks(2)
    counts = pd.concat(
        [
            counts_frame(*first, fold=1),
            counts_frame(*first, fold=1, mask="raw"),
            counts_frame(*second, fold=0),  # hold-out
            counts_frame(*otsu, loss="otsu", fold=1, mask="otsu"),
        ]
    )
    table = segmentation_table(counts, "dice")
    assert table[["evaluation", "loss", "fold", "mask"]].values.tolist()[-1] == ["baseline", "otsu", "all", "otsu"]
    assert table["loss"].tolist()[:-1] == ["dice"] * (len(table) - 1)
    baseline = table.iloc[-1]
    assert [baseline[k] for k in ("tp", "fp", "fn", "tn")] == pixel_counts(*otsu).sum(axis=0).tolist()
    assert baseline["dice"] == pytest.approx(f1_score(otsu[1].ravel(), otsu[0].ravel()))
    assert np.isnan(baseline["paper_dice"])  # the paper's values sit beside the hold-out only
    # without a hold-out they sit beside every U-Net row, still not beside the baseline
    table = segmentation_table(counts[counts["fold"] != 0], "dice")
    assert table["paper_dice"].iloc[:-1].eq(0.348).all() and np.isnan(table["paper_dice"].iloc[-1])


def test_segmentation_table_per_fold_and_pooled():
    first, second = random_masks(0), random_masks(1)
    counts = pd.concat(
        [
            counts_frame(*first, fold=1),
            counts_frame(*second, fold=2),
            counts_frame(np.zeros_like(first[0]), first[1], fold=1, mask="raw"),
            counts_frame(*second, fold=2, mask="raw"),
            counts_frame(*first, loss="cross_entropy", fold=1, mask="opened"),
        ]
    )
    table = segmentation_table(counts, "dice")
    assert table[["fold", "mask"]].values.tolist() == [
        ["1", "opened"],
        ["2", "opened"],
        ["all", "opened"],
        ["all", "raw"],
    ]
    pooled_p = np.concatenate([first[0], second[0]]).ravel()
    pooled_t = np.concatenate([first[1], second[1]]).ravel()
    assert table.loc[2, "dice"] == pytest.approx(f1_score(pooled_t, pooled_p))
    assert table.loc[0, "iou"] == pytest.approx(jaccard_score(first[1].ravel(), first[0].ravel()))
    assert table.loc[2, "n_images"] == 12
    assert (table["paper_dice"] == 0.348).all() and (table["paper_precision"] == 0.795).all()
    assert "paper_iou" not in table  # the paper gives none
    # Each interval is the bootstrap over that row's source images (a naive pixel-level interval
    # would be orders of magnitude narrower): a plain numpy resampling of the images as reference.
    counts_1 = counts_frame(*first, fold=1)[["tp", "fp", "fn", "tn"]].to_numpy()
    rng = np.random.default_rng(2)
    draws = []
    for _ in range(3000):
        pick = counts_1[rng.integers(0, len(counts_1), len(counts_1))].sum(axis=0)
        draws.append(2 * pick[0] / (2 * pick[0] + pick[1] + pick[2]))
    low, high = np.quantile(draws, [0.025, 0.975])
    assert table.loc[0, "dice_ci_low"] == pytest.approx(low, abs=0.01)
    assert table.loc[0, "dice_ci_high"] == pytest.approx(high, abs=0.01)
    assert table.loc[0, "dice_ci_high"] - table.loc[0, "dice_ci_low"] > 0.02


def test_loss_comparison_flags_a_collapse(tmp_path):
    predicted, truth = random_masks()
    counts = pd.concat(
        [
            counts_frame(predicted, truth, "dice", mask="raw"),
            counts_frame(np.zeros_like(truth), truth, "cross_entropy", mask="raw"),
        ]
    )
    histories = {}
    for loss in ("dice", "cross_entropy"):
        path = tmp_path / f"{loss}.csv"
        pd.DataFrame({"epoch": [0, 1, 2], "val_loss": [0.5, 0.3, 0.4], "val_dice": [0.1, 0.8, 0.7]}).to_csv(path)
        histories[loss] = str(path)
    table = loss_comparison_table(counts, 1, histories).set_index("loss")
    assert table.loc["cross_entropy", "collapsed"] and not table.loc["dice", "collapsed"]
    assert table.loc["cross_entropy", "predicted_foreground"] == 0
    assert table.loc["dice", "true_foreground"] == pytest.approx(truth.mean())
    assert table.loc["dice", "best_epoch"] == 1 and table.loc["dice", "epochs_trained"] == 3


def test_classification_table_agrees_with_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    predicted = np.where(rng.random(60) < 0.7, labels, rng.integers(0, 3, 60))
    largest = np.arange(60) % 3 != 2  # every third crop is a second nucleus of its image
    predictions = pd.DataFrame(
        {
            "row": np.arange(60) // 2,
            "label": labels,
            "pred": predicted,
            "source_id": [f"s{i // 2}" for i in range(60)],
            "largest": largest,
        }
    )
    images = pd.DataFrame({"row": range(40), "classifier_split": ["test"] * 32 + ["train"] * 8})
    table = classification_table(predictions, images, class_weights=(1.0, 2.5, 0.5)).set_index("class")
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=[0, 1, 2])
    assert np.allclose(table.loc[list(CLASSES), "precision"], precision)
    assert np.allclose(table.loc[list(CLASSES), "recall"], recall)
    assert np.allclose(table.loc[list(CLASSES), "f1"], f1)
    assert table.loc[list(CLASSES), "support"].tolist() == support.tolist()
    assert table.loc["accuracy", "f1"] == pytest.approx(accuracy_score(labels, predicted))
    assert table.loc[PER_IMAGE, "f1"] == pytest.approx(accuracy_score(labels[largest], predicted[largest]))
    confusion = table.loc[list(CLASSES), [f"as_{c}" for c in CLASSES]].to_numpy(dtype=int)
    assert (confusion == confusion_matrix(labels, predicted, labels=[0, 1, 2])).all()
    assert table.loc["accuracy", "paper_accuracy"] == 0.9 and np.isnan(table.loc["neutrophil", "paper_accuracy"])
    assert table.loc["promyelocyte", "class_weight"] == 2.5
    assert table["test_images"].iloc[0] == 32 and table["test_images_without_crop"].iloc[0] == 2  # rows 30, 31
