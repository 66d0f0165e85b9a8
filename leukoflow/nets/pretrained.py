"""Where the ImageNet AlexNet weights come from, checked by hash.

`load_pretrained_features(spec, cache_dir)` turns the config value `pretrained:` into a state dict:
  - None / "none"  -> None: the convolutional layers start from random initialisation.
  - "imagenet"     -> torchvision's published AlexNet weights, from `cache_dir` when already there,
                      otherwise downloaded into it; the sha256 prefix in the file name is checked.
  - any other str  -> a path to a state-dict file (e.g. a copy made on a machine with internet).

Files are read with `torch.load(weights_only=True)`, so a weight file can hold tensors and plain
containers but cannot run code.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import urlparse

import torch

from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.core.io import sha256_file

log = logging.getLogger(__name__)

# torchvision's AlexNet ImageNet weights; "7be5be79" is the start of the file's sha256.
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
# timm's port of the TensorFlow Inception-ResNet-v2 ImageNet weights (the C-NMC paper's network).
INCEPTION_RESNET_V2_URL = (
    "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/inception_resnet_v2-940b1cd6.pth"
)

# torchvision / torch.hub naming convention: <name>-<first hex digits of sha256>.pth
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth?$")


def hash_prefix_from_name(path: str | Path) -> str | None:
    """The sha256 prefix carried by a `name-<hash>.pth` file name, or None if it carries none."""
    match = _HASH_IN_NAME.search(Path(path).name)
    return match.group(1) if match else None


def load_pretrained_features(spec: str | Path | None, cache_dir: str | Path) -> dict[str, torch.Tensor] | None:
    """Resolve the `pretrained:` setting to a state dict (CPU tensors) or None for random init."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "none")):
        log.warning("pretrained: none -> the AlexNet convolutional layers start from RANDOM initialisation")
        return None
    if isinstance(spec, str) and spec.strip().lower() == "imagenet":
        return load_imagenet(Path(cache_dir), "alexnet")
    return load_state_dict_file(Path(spec).expanduser())


def load_imagenet(cache_dir: Path, network: str = "alexnet") -> dict[str, torch.Tensor]:
    """The published ImageNet weights of `network` ("alexnet" or "inception_resnet_v2"): the copy
    in `cache_dir` when there (hash-checked), otherwise downloaded into it (hash-checked)."""
    # Read the URL at call time (not as a default argument) so tests can point it elsewhere.
    url = {"alexnet": ALEXNET_URL, "inception_resnet_v2": INCEPTION_RESNET_V2_URL}[network]
    file_name = Path(urlparse(url).path).name
    cached = cache_dir / file_name
    if cached.exists():
        # torch.hub checks the hash only while downloading; a cached copy gets the same check here.
        log.info("pretrained: imagenet -> cached %s", cached)
        return load_state_dict_file(cached)

    log.info("pretrained: imagenet -> downloading %s into %s", url, cache_dir)
    try:
        state = torch.hub.load_state_dict_from_url(
            url,
            model_dir=str(cache_dir),
            map_location="cpu",
            progress=False,
            check_hash=True,
            weights_only=True,
        )
    except Exception as exc:  # URLError, socket errors, hash mismatch (RuntimeError), ...
        raise ConfigError(
            f"pretrained: imagenet: could not fetch the {network} weights ({type(exc).__name__}: {exc}). "
            f"Download {url} on a machine with internet and either put it, keeping its file name, at "
            f"{cached}, or set `pretrained: <path to the .pth file>` in the config; "
            f"or set `pretrained: none` to train from random initialisation."
        ) from exc
    return _check_state_dict(state, cached)


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """Load a state-dict file safely; verify its hash when its name carries one."""
    if not path.is_file():
        raise DatasetError(path, "pretrained weight file not found (check the `pretrained:` setting)")
    expected = hash_prefix_from_name(path)
    if expected is not None:
        actual = sha256_file(path)
        if not actual.startswith(expected):
            raise DatasetError(
                path,
                f"sha256 {actual} does not start with {expected} as its file name says: "
                "the file is corrupt or incomplete; download it again",
            )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DatasetError(path, f"not a readable torch weight file ({type(exc).__name__}: {exc})") from exc
    return _check_state_dict(state, path)


def _check_state_dict(state, path: Path) -> dict[str, torch.Tensor]:
    # Accept a bare state dict or a wrapper with a "state_dict" entry (Lightning checkpoints,
    # leukoflow's exported models).
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise DatasetError(path, f"expected a non-empty state dict, got {type(state).__name__}")
    bad = [key for key, value in state.items() if not isinstance(key, str) or not isinstance(value, torch.Tensor)]
    if bad:
        raise DatasetError(path, f"state dict has non-tensor entries: {bad[:5]}")
    return state
