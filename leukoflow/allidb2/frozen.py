"""Training the Ghosh network with its first trunk stages frozen, their output computed once.

With `frozen_stages: k` (our choice for CPU demos; the paper fine-tunes every layer) the first k
stages of the trunk (`GhoshNet.trunk_stages`) keep their pretrained weights. Their output does not
change during training, so it is computed once per image, in eval mode, and the rest of the
network (the remaining trunk stages, whose last one makes the slide heatmap, and the new linear
layers) trains on those stored maps through the one training loop, `training.fit.fit`, with
normalisation "none" (resumable, same history, same best-epoch rule). The trained stages are
shared with the whole network, which is then exported in the usual format, so every later step
loads it like any other model.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from leukoflow.core.device import job_device
from leukoflow.core.images import normalisation_constants, normalise_batch
from leukoflow.inference import predict_proba, read_exported
from leukoflow.training.config import TrainConfig, history_columns
from leukoflow.training.export import export_network
from leukoflow.training.fit import fit

log = logging.getLogger(__name__)


class TopOfNetwork(nn.Module):
    """The trainable part: the trunk stages after the frozen ones, then the Ghosh head. Its batch
    norm layers keep their pretrained statistics (batches of a few dozen crops would only add
    noise), whatever mode training puts the module in."""

    def __init__(self, stages: list[nn.Module], classifier: nn.Module):
        super().__init__()
        self.stages, self.classifier = nn.Sequential(*stages), classifier

    def train(self, mode: bool = True) -> TopOfNetwork:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.classifier(torch.flatten(self.stages(maps), 1)), dim=1)


@torch.inference_mode()
def frozen_maps(
    stages: list[nn.Module], images: torch.Tensor, normalisation: str, device: torch.device, batch: int = 128
) -> torch.Tensor:
    """The output of `stages` (eval mode) for uint8 images (N, 3, S, S), float32 on the CPU."""
    from leukoflow.runtime.progress import Progress

    scale, shift = normalisation_constants(device, normalisation)
    # Channels-last: 1.8x faster for EfficientNet-Lite0 on CPU too (benchmarks/bench_layouts.py).
    prefix = nn.Sequential(*stages).eval().to(device, memory_format=torch.channels_last)
    progress = Progress("frozen-feature pass", len(images), log, unit="images")
    outputs = []
    for i in range(0, len(images), batch):
        x = normalise_batch(images[i : i + batch].to(device), scale, shift, channels_last=True)
        outputs.append(prefix(x).float().contiguous().cpu())
        progress.advance(len(x))
    return torch.cat(outputs).clone()  # out of inference mode: training reads it


def fit_above_frozen_stages(
    model: nn.Module,
    frozen: int,
    data: dict[str, tuple[torch.Tensor, torch.Tensor]],
    cfg: TrainConfig,
    state_dir: str,
    model_out: str,
    history_out: str,
) -> tuple[dict, np.ndarray | None]:
    """Train `model` (a GhoshNet) above its first `frozen` trunk stages; export the whole network.

    `data` maps "train", "val" and optionally "test" to (uint8 images, labels). Returns the summary
    of `fit` and, for "test", the best epoch's class probabilities (N, 2) computed from the stored
    maps (the same numbers the exported network gives on the images).
    """
    stages = model.trunk_stages()
    if not 0 < frozen <= len(stages):
        raise ValueError(f"frozen_stages must lie in 1..{len(stages)} for this trunk, got {frozen}")
    for stage in stages[:frozen]:
        stage.requires_grad_(False)
    device = job_device(cfg.accelerator, cfg.allow_cpu_fallback)
    maps = {name: frozen_maps(stages[:frozen], x, model.normalisation, device) for name, (x, _) in data.items()}
    log.info("frozen stages 1-%d computed once: %s", frozen, {k: tuple(v.shape) for k, v in maps.items()})
    top = TopOfNetwork(stages[frozen:], model.classifier)
    top_out = f"{state_dir}/top.pt"
    summary = fit(
        top,
        maps["train"],
        data["train"][1],
        maps["val"],
        data["val"][1],
        cfg,
        state_dir,
        top_out,
        history_out,
        normalisation="none",
    )
    best = read_exported(top_out)
    top.load_state_dict(best["state_dict"])  # its modules are the model's: the model holds the best epoch
    row = {"epoch": best["epoch"], **best["metrics"]}
    export_network(
        model,
        model.state_dict(),
        row,
        cfg,
        model_out,
        columns=history_columns("acc"),
        task="classifier",
        normalisation=model.normalisation,
    )
    probabilities = None
    if "test" in maps:
        probabilities = predict_proba(top, maps["test"], batch_size=256, device=device, normalisation="none")
    return {**summary, "frozen_stages": frozen}, probabilities
