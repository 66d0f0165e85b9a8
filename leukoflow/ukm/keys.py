"""Which settings each UKM-WBC rule reads (its params hold these only); light to import, for
the Snakefile."""

UNET_TRAIN_KEYS = (
    "batch_size",
    "early_stopping_patience",
    "epochs",
    "features",
    "lr",
    "norm",
    "optimizer",
    "seed",
    "val_fraction",
)
"""The `ukm.unet` keys `train_unet` reads: the rule's params hold these only, so that `folds`,
`holdout` and the loss comparison (read when the workflow plans its jobs) retrain nothing."""
