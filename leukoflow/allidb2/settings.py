"""The `allidb2.cnn` keys each ALL-IDB2 rule reads: its params hold these only (light: read at
parse time by the rule file, which must not import torch)."""

TRAIN_KEYS = (
    "backbone",
    "batch_size",
    "decay",
    "decay_mode",
    "dropout",
    "epochs",
    "frozen_stages",
    "hidden",
    "input_size",
    "lr",
    "momentum",
    "optimizer",
    "pretrained",
    "seed",
)
"""The `allidb2.cnn` keys a training job reads (rule allidb2_train passes these only: a new fold or
protocol in the config must not retrain the folds already trained)."""

FILTER_KEYS = ("input_size", "seed")
"""What rule allidb2_filters reads of `allidb2.cnn`."""
