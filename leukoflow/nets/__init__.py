"""Networks as plain `nn.Module`s (no training code) and the loading of pretrained weights.

  alexnet     AlexNet conv layers + new linear head (Ghosh, Singh & Sheet 2017)
  cnn50       the 50x50 CNN (Khandelwal et al., after Thanh et al.)
  pretrained  hash-checked weight files, clear errors offline

Every network keeps its constructor arguments in `arch_kwargs`, so an exported file can rebuild
it (`leukoflow.inference.load_exported`).
"""
