"""Pretrained-weight resolution: none, cached/downloaded 'imagenet' with hash check, explicit paths."""

import hashlib
import logging

import pytest
import torch

from leukoflow.core.errors import ConfigError, DatasetError
from leukoflow.nets import pretrained
from leukoflow.nets.pretrained import hash_prefix_from_name, load_pretrained_features


def _fake_state():
    generator = torch.Generator().manual_seed(1)
    return {"features.0.weight": torch.randn(4, 3, 3, 3, generator=generator), "features.0.bias": torch.randn(4)}


def _save_with_hash_name(state, folder, stem="alexnet-owt"):
    """Save like torchvision publishes: <stem>-<first 8 hex of sha256>.pth."""
    tmp = folder / "unnamed.pth"
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    target = folder / f"{stem}-{digest[:8]}.pth"
    tmp.rename(target)
    return target


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key])


@pytest.mark.parametrize("spec", [None, "none", "None", ""])
def test_none_means_random_init_and_says_so(spec, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="leukoflow.nets.pretrained"):
        assert load_pretrained_features(spec, tmp_path) is None
    assert "RANDOM" in caplog.text


def test_hash_prefix_from_name():
    assert hash_prefix_from_name("alexnet-owt-7be5be79.pth") == "7be5be79"
    assert hash_prefix_from_name("/x/my_weights.pth") is None
    assert hash_prefix_from_name("resnet18-f37072fd.pt") == "f37072fd"


def test_alexnet_url_is_torchvisions():
    assert pretrained.ALEXNET_URL == "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"


def test_path_with_matching_hash_loads(tmp_path):
    state = _fake_state()
    path = _save_with_hash_name(state, tmp_path)
    _assert_same(load_pretrained_features(str(path), tmp_path / "cache"), state)


def test_path_without_hash_in_name_loads(tmp_path):
    state = _fake_state()
    path = tmp_path / "my_weights.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)  # wrapped form (exported models, checkpoints)
    _assert_same(load_pretrained_features(path, tmp_path), state)


def test_path_with_wrong_hash_names_the_file(tmp_path):
    path = tmp_path / "alexnet-owt-00000000.pth"
    torch.save(_fake_state(), path)
    with pytest.raises(
        DatasetError, match=r"alexnet-owt-00000000\.pth: sha256 [0-9a-f]{64} does not start with 00000000"
    ):
        load_pretrained_features(str(path), tmp_path)


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_bytes(b"this is not a torch file" * 10)
    with pytest.raises(DatasetError, match=r"weights\.pth: not a readable torch weight file"):
        load_pretrained_features(str(path), tmp_path)


def test_file_with_non_tensors_is_rejected(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"features.0.weight": [1, 2, 3]}, path)
    with pytest.raises(DatasetError, match="non-tensor"):
        load_pretrained_features(str(path), tmp_path)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere\.pth: pretrained weight file not found"):
        load_pretrained_features(str(tmp_path / "nowhere.pth"), tmp_path)


def test_imagenet_offline_explains_how_to_provide_the_file(tmp_path, monkeypatch):
    # Port 9 (discard) on loopback: refused at once, no real network involved.
    url = "http://127.0.0.1:9/models/alexnet-owt-7be5be79.pth"
    monkeypatch.setattr(pretrained, "ALEXNET_URL", url)
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError) as info:
        load_pretrained_features("imagenet", cache)
    message = str(info.value)
    assert url in message
    assert str(cache / "alexnet-owt-7be5be79.pth") in message
    assert "pretrained: <path" in message
    assert not (cache / "alexnet-owt-7be5be79.pth").exists()


def test_imagenet_downloads_checks_hash_and_then_uses_the_cache(tmp_path, monkeypatch):
    state = _fake_state()
    (tmp_path / "server").mkdir()
    served = _save_with_hash_name(state, tmp_path / "server")
    monkeypatch.setattr(pretrained, "ALEXNET_URL", served.as_uri())  # file:// goes through urllib like https
    cache = tmp_path / "cache"
    _assert_same(load_pretrained_features("imagenet", cache), state)
    assert (cache / served.name).read_bytes() == served.read_bytes()

    served.unlink()  # the source is gone: the cached copy must be used
    _assert_same(load_pretrained_features("imagenet", cache), state)


def test_imagenet_download_with_wrong_hash_fails_and_keeps_nothing(tmp_path, monkeypatch):
    (tmp_path / "server").mkdir()
    served = tmp_path / "server" / "alexnet-owt-7be5be79.pth"  # name claims a hash the bytes lack
    torch.save(_fake_state(), served)
    monkeypatch.setattr(pretrained, "ALEXNET_URL", served.as_uri())
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match="invalid hash value"):
        load_pretrained_features("imagenet", cache)
    assert not (cache / served.name).exists()


def test_corrupt_cached_imagenet_file_is_reported(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / "alexnet-owt-7be5be79.pth"
    cached.write_bytes(b"\0" * 100)  # e.g. an interrupted manual copy
    with pytest.raises(DatasetError, match=r"alexnet-owt-7be5be79\.pth: sha256"):
        load_pretrained_features("imagenet", cache)
