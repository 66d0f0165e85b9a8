"""Published values that the UKM-WBC tables print beside their own numbers.

The UKM-WBC study (the dataset is not public): a U-Net segments white-cell nuclei on grey + CLAHE
images resized to 256x256, trained with dice loss, early stopping and cross-validation, scored on
a 70/30 train/test split; a 5x5 opening splits weakly connected masks; a CNN of five interlinked
layers (the fifth the output) classifies the segmented images, resized to 224 px, into
neutrophil, promyelocyte and lymphoblast, with rotations (30, 45, 60 degrees) and zoom 0.25.
"""

SEGMENTATION = {
    "source": "UKM-WBC paper: U-Net nucleus segmentation, dice loss, 70/30 train/test split",
    "pixel_accuracy": 0.998,
    "dice": 0.348,
    "precision": 0.795,
}
"""The paper gives binary (pixel) accuracy, Dice and precision; no IoU or recall."""

CROSS_ENTROPY_NOTE = (
    "The paper reports that the same U-Net trained with cross-entropy alone collapses to predicting "
    "background everywhere on this imbalance (nucleus pixels are a small share of each image)."
)

IMAGE_COUNT_NOTE = (
    "The paper reports 300 microscope images and, per class, 445 neutrophils, 175 promyelocytes and 768 "
    "lymphoblasts (1,388). We read the 300 as the smears photographed and the 1,388 as the single-cell images "
    "cut from them, the unit the classifier and our splits by source image count."
)

CLASSIFICATION = {
    "source": "UKM-WBC paper: five-layer CNN on the segmented images (224 px), 70/30 train/test split",
    "accuracy": 0.9,  # "about 0.9"
    "class_counts": {"neutrophil": 445, "promyelocyte": 175, "lymphoblast": 768},
}
