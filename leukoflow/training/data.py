"""In-memory data feeding: the whole training set is one uint8 tensor, a batch is one gather.

An index sampler yields one index tensor per batch (a fresh seeded permutation per epoch), the
batch is `x[idx], y[idx]`, and conversion to float and normalisation happen on the device in the
system's `on_after_batch_transfer`. No per-item Python work, no file reads, and the host copies 1
byte per pixel instead of 4. Targets are class labels (N,) or masks (N, H, W).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 63-bit seed per (run seed, epoch), the same in every process."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class EpochBatchSampler(torch.utils.data.Sampler):
    """Yields one int64 index tensor per batch: a seeded permutation per epoch, or in order.

    Lightning calls `set_epoch` at the start of every epoch (also after a resume), so the order of
    epoch e depends only on (seed, e): a resumed run sees the batches an uninterrupted one would.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int = 0):
        self.n, self.batch_size, self.shuffle, self.seed = int(n), int(batch_size), shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size) - int(self._merges_last())

    def _merges_last(self) -> bool:
        # A training batch of one sample stops batch norm ("expected more than 1 value per
        # channel"): it joins the batch before it (our choice: every sample still trains each epoch).
        return self.shuffle and self.n > self.batch_size and self.n % self.batch_size == 1

    def __iter__(self):
        if self.shuffle:
            generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.arange(self.n)
        batches = list(order.split(self.batch_size))
        if self._merges_last():
            batches[-2:] = [torch.cat(batches[-2:])]
        return iter(batches)


class TensorBatches(torch.utils.data.Dataset):
    """Indexing with a tensor of indices returns the whole batch (x[idx], y[idx]) in one gather."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor):
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.targets[index]


def make_loader(
    images: torch.Tensor, targets: torch.Tensor, batch_size: int, *, shuffle: bool, seed: int = 0, pin_memory=False
) -> torch.utils.data.DataLoader:
    """A DataLoader over in-memory tensors that hands out whole uint8 batches (no collation)."""
    return torch.utils.data.DataLoader(
        TensorBatches(images, targets),
        batch_size=None,  # the sampler already yields batches of indices
        sampler=EpochBatchSampler(images.shape[0], batch_size, shuffle, seed),
        num_workers=0,  # a gather from RAM is far cheaper than shipping batches between processes
        pin_memory=pin_memory,
        # Its own generator: creating a DataLoader iterator otherwise draws a seed from the global
        # RNG, and Lightning creates the first iterator at a different point after a resume, which
        # would shift every dropout mask that follows.
        generator=torch.Generator().manual_seed(seed),
    )
