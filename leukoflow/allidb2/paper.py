"""Published values that ALL-IDB2's tables print beside their own numbers."""

TABLE1 = {
    "source": "Ghosh, Singh & Sheet 2017, Table I (ALL-IDB2, 10 folds)",
    "note": (
        "Every fold is reported at 100% accuracy, specificity, sensitivity and F-score. Each test bag "
        "holds 1872 images (936 per class), so the implied counts are TP 936, TN 936, FP 0, FN 0. The "
        "bags were dealt from augmented images, so rotated copies of each test cell were in training."
    ),
    "per_fold": {
        "tp": 936,
        "tn": 936,
        "fp": 0,
        "fn": 0,
        "accuracy": 1.0,
        "specificity": 1.0,
        "sensitivity": 1.0,
        "f_score": 1.0,
    },
}
