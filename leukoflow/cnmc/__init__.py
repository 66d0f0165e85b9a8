"""C-NMC 2019 (Liu & Long 2019): convex-hull cell crops, a 7:3 split by subject, designed bagging
subsets A and B, two backbones and a combined model, the most confident model's label per cell.
One module per rule, plus the pieces they share; docs/cnmc.md describes the method and the files.

  crop            cnmc_crop: Otsu/erosion/convex-hull crop, all crops in one tensor file
  subsets         cnmc_subsets: roles (train / val / test) by subject, subsets A and B
  augment         rotation, flips, noise, contrast, channel shifts, batched on a device
  models          BackboneClassifier (stage 1), CombinedClassifier (stage 2)
  train           cnmc_train_backbone, cnmc_train_combined
  predict         cnmc_predict: the most confident model per cell (no Lightning)
  tables          cnmc_tables: Table 1 per model with subject-bootstrap CIs, per-subject accuracy
  figures         the crop contact sheet and the learning curves
  methods         as published beside ours: the switches, their paper values, the deviations
  paper           the published values (and, labelled, values from other sources)
  report_section  the report's C-NMC section
"""
