"""The shared core: nothing here knows a dataset by name.

errors      DatasetError (names the file), ConfigError (names the key), warn_once (names the file)
io          atomic writes, hashing, image and mask decoding, image-tensor bag files
images      layout, normalisation, resizing, padding of image tensors
crops       fixed-size boxes around points, shifted inside the image, cut in one batch
device      the device policy of every job
stain       float32 colour deconvolution (HED) and the eosin mask
splits      group-aware bags, folds and train/validation splits, leak counts
metrics     binary, multi-class and segmentation metrics with confidence intervals
evaluation  predictions -> per-fold rows + pooled row beside a paper's values
matching    one-to-one matching of detected and annotated points
"""
