"""Networks as plain `nn.Module`s (no training code) and the loading of pretrained weights.

  alexnet     AlexNet conv layers + new linear head (Ghosh, Singh & Sheet 2017), as exported before
  ghosh       the same network with a choice of trunk: AlexNet (the paper's) or EfficientNet-Lite0
  cnn50       the 50x50 CNN (Khandelwal et al., after Thanh et al.)
  unet        the U-Net of Ronneberger et al. (UKM-WBC nuclei; any input size, any channel count)
  small_cnn   a small VGG-style crop classifier with global pooling (UKM-WBC's three classes, ours)
  five_layer_cnn  the UKM-WBC paper's "five interlinked layers" as we read them
  inception_resnet_v2  the C-NMC paper's backbone, timm's key names, without timm
  pretrained  hash-checked weight files, clear errors offline

Every network keeps its constructor arguments in `arch_kwargs`, so an exported file can rebuild
it (`leukoflow.inference.load_exported`).
"""
