"""Published values that the UKM-WBC tables print beside their own numbers.

The UKM-WBC study (the dataset is not public): a U-Net segments white-cell nuclei on grey + CLAHE
images resized to 256x256, trained with dice loss, early stopping and cross-validation; a 5x5
opening splits weakly connected masks; a CNN classifies ROI crops into neutrophil, promyelocyte
and lymphoblast on a 70/30 train/test split, with rotations (30, 45, 60 degrees) and zoom 0.25.
"""

SEGMENTATION = {
    "source": "UKM-WBC paper: U-Net nucleus segmentation, dice loss, cross-validation",
    "pixel_accuracy": 0.998,
    "dice": 0.348,
    "precision": 0.795,
}
"""The paper gives binary (pixel) accuracy, Dice and precision; no IoU or recall."""

CROSS_ENTROPY_NOTE = (
    "The paper reports that the same U-Net trained with cross-entropy alone collapses to predicting "
    "background everywhere on this imbalance (nucleus pixels are a small share of each image)."
)

CLASSIFICATION = {
    "source": "UKM-WBC paper: CNN on ROI crops, 70/30 train/test split",
    "accuracy": 0.9,  # "about 0.9"
    "class_counts": {"neutrophil": 445, "promyelocyte": 175, "lymphoblast": 768},
}
