"""Inception-ResNet-v2 (the C-NMC paper's backbone): timm's layout and key names, the 1536-d
features at 299 px, and weight files with timm's keys loaded through `build_backbone`."""

import importlib.util

import pytest
import torch

from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.nets import pretrained
from leukoflow.nets.backbones import build_backbone
from leukoflow.nets.inception_resnet_v2 import InceptionResNetV2Trunk
from tests.nets.test_pretrained import _save_with_hash_name

# timm's model card: inception_resnet_v2 has 55.84 M parameters with its 1000-class classifier
# (1536 x 1000 + 1000); the trunk is the rest.
TIMM_PARAMETERS = 55_843_464
CLASSIFIER_PARAMETERS = 1536 * 1000 + 1000

# Keys and shapes read off timm/models/inception_resnet_v2.py (BasicConv2d = conv + bn, blocks
# Block35 x10 in `repeat`, Block17 x20 in `repeat_1`, Block8 x9 in `repeat_2` plus `block8`).
TIMM_KEYS = {
    "conv2d_1a.conv.weight": (32, 3, 3, 3),
    "conv2d_4a.bn.running_mean": (192,),
    "mixed_5b.branch0.conv.weight": (96, 192, 1, 1),
    "mixed_5b.branch1.1.conv.weight": (64, 48, 5, 5),
    "mixed_5b.branch3.1.conv.weight": (64, 192, 1, 1),
    "repeat.9.branch2.2.conv.weight": (64, 48, 3, 3),
    "repeat.9.conv2d.bias": (320,),
    "mixed_6a.branch0.conv.weight": (384, 320, 3, 3),
    "mixed_6a.branch1.2.conv.weight": (384, 256, 3, 3),
    "repeat_1.19.branch1.1.conv.weight": (160, 128, 1, 7),
    "repeat_1.19.branch1.2.conv.weight": (192, 160, 7, 1),
    "repeat_1.0.conv2d.weight": (1088, 384, 1, 1),
    "mixed_7a.branch2.2.bn.weight": (320,),
    "repeat_2.8.branch1.2.conv.weight": (256, 224, 3, 1),
    "repeat_2.8.conv2d.weight": (2080, 448, 1, 1),
    "block8.conv2d.weight": (2080, 448, 1, 1),
    "conv2d_7b.conv.weight": (1536, 2080, 1, 1),
    "conv2d_7b.bn.num_batches_tracked": (),
}


@pytest.fixture(scope="module")
def trunk():
    torch.manual_seed(0)
    network = InceptionResNetV2Trunk().eval()
    # Non-trivial batch-norm statistics, so a load that skipped them would change the output.
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return network


def test_parameters_and_keys_are_timms(trunk):
    assert sum(p.numel() for p in trunk.parameters()) == TIMM_PARAMETERS - CLASSIFIER_PARAMETERS
    state = trunk.state_dict()
    for key, shape in TIMM_KEYS.items():
        assert key in state, key
        assert tuple(state[key].shape) == shape, key
    assert trunk.conv2d_1a.bn.eps == pytest.approx(0.001)
    assert [trunk.repeat[0].scale, trunk.repeat_1[0].scale, trunk.repeat_2[0].scale, trunk.block8.scale] == [
        0.17,
        0.10,
        0.20,
        1.0,
    ]
    assert trunk.block8.relu is None and trunk.repeat_2[8].relu is not None


def test_grid_sizes_at_299_px(trunk):
    shapes = {}
    hooks = [
        getattr(trunk, name).register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, o.shape[1:]))
        for name in ("maxpool_5a", "mixed_5b", "mixed_6a", "mixed_7a", "conv2d_7b")
    ]
    with torch.no_grad():
        features = trunk(torch.zeros(2, 3, 299, 299))
    for hook in hooks:
        hook.remove()
    assert tuple(features.shape) == (2, 1536, 8, 8)
    assert shapes == {
        "maxpool_5a": (192, 35, 35),
        "mixed_5b": (320, 35, 35),
        "mixed_6a": (1088, 17, 17),
        "mixed_7a": (2080, 8, 8),
        "conv2d_7b": (1536, 8, 8),
    }


def test_small_inputs_are_refused_with_the_minimum(trunk):
    with torch.no_grad():
        assert tuple(trunk(torch.zeros(1, 3, 75, 75)).shape) == (1, 1536, 1, 1)
        with pytest.raises(ValueError, match="at least 75 px"):
            trunk(torch.zeros(1, 3, 64, 64))


def test_a_file_with_timms_keys_loads_and_gives_the_same_features(trunk, tmp_path):
    state = {**trunk.state_dict(), "classif.weight": torch.randn(1000, 1536), "classif.bias": torch.zeros(1000)}
    path = _save_with_hash_name(state, tmp_path, stem="inception_resnet_v2")
    loaded = build_backbone("inception_resnet_v2", str(path)).eval()
    x = torch.rand(1, 3, 80, 80) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), trunk(x))
        # The same file without loading: different weights, different features.
        assert not torch.allclose(build_backbone("inception_resnet_v2", "none").eval()(x), trunk(x))


def test_files_that_do_not_fit_are_errors_naming_the_file(trunk, tmp_path):
    state = trunk.state_dict()
    missing = {k: v for k, v in state.items() if not k.startswith("block8.")}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(DatasetError, match="missing.pth.*lack"):
        build_backbone("inception_resnet_v2", str(tmp_path / "missing.pth"))
    renamed = {f"module.{k}": v for k, v in state.items()}  # a DataParallel export
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(DatasetError, match="renamed.pth"):
        build_backbone("inception_resnet_v2", str(tmp_path / "renamed.pth"))


def test_imagenet_comes_from_the_cache_hash_checked_or_a_clear_offline_error(trunk, tmp_path, monkeypatch):
    assert pretrained.INCEPTION_RESNET_V2_URL.endswith("/inception_resnet_v2-940b1cd6.pth")
    monkeypatch.setattr(pretrained, "INCEPTION_RESNET_V2_URL", (tmp_path / "absent-940b1cd6.pth").as_uri())
    with pytest.raises(ConfigError, match="could not fetch the inception_resnet_v2 weights.*pretrained: <path"):
        build_backbone("inception_resnet_v2", "imagenet", cache_dir=tmp_path / "cache")
    # A cached copy under the published name is used, and its hash is checked like a download.
    cache = tmp_path / "cache2"
    cache.mkdir()
    good = _save_with_hash_name(trunk.state_dict(), cache, stem="absent")
    monkeypatch.setattr(pretrained, "INCEPTION_RESNET_V2_URL", f"https://example.invalid/{good.name}")
    x = torch.rand(1, 3, 80, 80)
    with torch.no_grad():
        assert torch.equal(build_backbone("inception_resnet_v2", "imagenet", cache_dir=cache).eval()(x), trunk(x))
    torch.save({"x": torch.zeros(1)}, cache / "corrupt-940b1cd6.pth")
    monkeypatch.setattr(pretrained, "INCEPTION_RESNET_V2_URL", "https://example.invalid/corrupt-940b1cd6.pth")
    with pytest.raises(DatasetError, match="does not start with 940b1cd6"):
        build_backbone("inception_resnet_v2", "imagenet", cache_dir=cache)


@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm is not installed (it does not import here)")
def test_same_output_as_timms_model_for_the_same_weights(trunk):
    try:
        import timm
    except Exception as exc:  # timm installed but its torchvision broken beside this torch
        pytest.skip(f"timm does not import: {exc}")
    reference = timm.create_model("inception_resnet_v2", pretrained=False, num_classes=0, global_pool="").eval()
    reference.load_state_dict(trunk.state_dict(), strict=True)
    x = torch.rand(2, 3, 299, 299) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(trunk(x), reference.forward_features(x), rtol=1e-4, atol=1e-4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_features_agree_with_the_cpu(trunk):
    # bf16 autocast and channels-last, as inference runs on a GPU; the pooled features barely move.
    x = torch.rand(2, 3, 299, 299) * 2 - 1
    with torch.no_grad():
        expected = trunk(x).mean(dim=(2, 3))
        on_gpu = trunk.to("cuda").to(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            got = on_gpu(x.to("cuda").contiguous(memory_format=torch.channels_last)).float().mean(dim=(2, 3)).cpu()
        trunk.to("cpu")
    scale = expected.abs().max()
    assert float((got - expected).abs().max()) <= 0.05 * float(scale)
