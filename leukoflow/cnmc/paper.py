"""Values the C-NMC table prints beside its own numbers: the paper's, and, labelled with their
source, a few from the challenge and the data release that the paper does not give."""

SOURCE = (
    "Liu & Long 2019, Acute lymphoblastic leukemia cells image analysis with deep bagging ensemble "
    "learning (ISBI 2019 C-NMC challenge, Lecture Notes in Bioengineering), Table 1"
)

TABLE1 = {
    "source": SOURCE,
    "evaluation": "preliminary test set, 1,867 cells",
    # class -> (precision, recall, F1, support); the ensemble of model-A, model-B and the combined model
    "rows": {
        "HEM": (0.80, 0.74, 0.77, 648),
        "ALL": (0.87, 0.90, 0.88, 1219),
        "weighted avg": (0.84, 0.85, 0.84, 1867),
    },
}

FINAL_TEST = {
    "weighted_f1": 0.876,
    "note": "final test: weighted F1 0.876 (the paper)",
    "cells_note": "2,586 final-test cells, labels not public (the C-NMC 2019 data release, not the paper)",
    "winner_weighted_f1": 0.9104,
    "winner_note": "the challenge winner reached weighted F1 0.9104 on the final test (the challenge leaderboard, not the paper)",
}

SUBJECT_COUNTS = {
    "paper": {"training": 76, "prelim_test": 30},
    "released": {"training": 73, "prelim_test": 28},
    "note": (
        "The paper counts 76 training and 30 preliminary-test subjects; the released data (TCIA's C-NMC 2019 "
        "listing, not the paper) holds 73 and 28 (10,661 training cells, 1,867 preliminary-test cells). Our "
        "subject counts are those of the data this run read."
    ),
}
