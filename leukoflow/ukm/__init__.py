"""UKM-WBC: grey + CLAHE, U-Net nucleus segmentation with dice loss, 5x5 opening, ROI crops, and a
three-class CNN (neutrophil, promyelocyte, lymphoblast). One module per rule, plus the pieces
they share; docs/ukm.md describes the method, the layout and the files.

  preprocess      ukm_preprocess: grey + CLAHE, resize, one tensor file; splits by source image
  augment         rotations 30/45/60 degrees and zoom 0.25 of images and masks, batched on a device
  train           ukm_train_unet (one fold, dice or cross-entropy), ukm_train_classifier
  segment         ukm_segment: out-of-fold U-Net masks, opening, components, ROI crops (no Lightning)
  tables          ukm_tables: segmentation, loss comparison and classification tables, curves
  figures         the example figure (image, masks, crops with their predicted class)
  methods         the classifier as published beside ours: switches, deviations
  keys            the settings each rule reads (light, for the Snakefile)
  paper           the published values
  report_section  the report's UKM-WBC section
"""
