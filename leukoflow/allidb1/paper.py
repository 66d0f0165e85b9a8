"""Published values that ALL-IDB1's tables print beside their own numbers."""

TABLE2 = {
    "source": "Ghosh, Singh & Sheet 2017, Table II (ALL-IDB1, 108 slides)",
    "values": {
        "tp": 49,
        "tn": 56,
        "fp": 3,
        "fn": 0,
        "accuracy": 0.9722,
        "specificity": 0.9492,
        "sensitivity": 1.0,
        "f_score": 0.9703,
    },
}
CNN50 = {
    "source": "Khandelwal et al., 50x50 CNN after Thanh et al. (ALL-IDB1 image-level accuracy)",
    "values": {"accuracy": 0.928},
}
