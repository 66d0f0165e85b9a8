"""Names the C-NMC rule file, stages and report share (light: read at parse time)."""

MODEL_NAMES = ("A", "B", "combined")
"""The ensemble's members in the order of its probability columns: the two backbones trained on
the bagging subsets, then the combined model."""
BACKBONE_MODELS = MODEL_NAMES[:2]
