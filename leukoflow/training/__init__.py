"""One training loop for classifiers and segmenters (imports Lightning: training jobs only).

  config   TrainConfig (optimiser, schedule, loss, class weights, early stopping), history format
  data     in-memory uint8 tensors fed as one gather per batch
  systems  ClassifierSystem, SegmenterSystem (LightningModules around plain nn.Modules)
  fit      fit(): train, resume, export the best epoch
  export   the exported-model file and history CSV

Import the submodules (`from leukoflow.training.fit import fit`); this package file imports
nothing, so `leukoflow.training.config` stays cheap. Running a trained network needs none of it:
see `leukoflow.inference`.
"""
