"""A model bundle written, loaded and refused: hashes, format, versions, missing members."""

import json

import numpy as np
import pytest
import torch

from leukoflow.bundle import BUNDLE_FORMAT, load_bundle, write_bundle
from leukoflow.core.errors import DatasetError
from leukoflow.inference import EXPORT_FORMAT, predict_with_features
from leukoflow.nets.ghosh import GhoshNet


def exported(path, seed=0):
    torch.manual_seed(seed)
    net = GhoshNet(input_size=65, hidden=(8,), backbone="alexnet")
    torch.save(
        {
            "format": EXPORT_FORMAT,
            "architecture": "leukoflow.nets.ghosh:GhoshNet",
            "arch_kwargs": net.arch_kwargs,
            "state_dict": net.state_dict(),
        },
        path,
    )
    return path, net


@pytest.fixture
def bundle_dir(tmp_path):
    first, _ = exported(tmp_path / "a.pt", 0)
    second, _ = exported(tmp_path / "b.pt", 1)
    return write_bundle(
        tmp_path / "models",
        models=[("fold1.pt", first), ("fold2.pt", second)],
        files={"MODEL_CARD.md": "# card\n", "domain.npz": b"not checked here"},
        manifest={
            "data": "synthetic",
            "classes": ["healthy", "ALL"],
            "input_size": 65,
            "training_scale": {"frame_px": 257, "red_cell_px": 80.0, "source": "test"},
            "models": [{"fold": 1}, {"fold": 2}],
        },
    )


def test_a_bundle_loads_and_builds_its_networks(bundle_dir):
    bundle = load_bundle(bundle_dir)
    assert bundle.data == "synthetic" and bundle.training_scale["red_cell_px"] == 80.0
    assert [entry["fold"] for entry in bundle.manifest["models"]] == [1, 2]
    assert bundle.manifest["format"] == BUNDLE_FORMAT
    models = bundle.models()
    assert len(models) == 2 and not models[0].training
    images = torch.randint(0, 255, (3, 3, 65, 65), dtype=torch.uint8)
    proba, features = predict_with_features(models[0], images)
    assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert features.shape == (3, 256)  # AlexNet's pooled conv channels


def test_a_changed_member_is_named(bundle_dir):
    (bundle_dir / "fold2.pt").write_bytes(b"tampered")
    with pytest.raises(DatasetError, match=r"fold2\.pt: sha256 .* differs"):
        load_bundle(bundle_dir)


def test_a_missing_member_is_named(bundle_dir):
    (bundle_dir / "MODEL_CARD.md").unlink()
    with pytest.raises(DatasetError, match=r"MODEL_CARD\.md: listed in bundle\.json but missing"):
        load_bundle(bundle_dir)


def test_other_formats_and_newer_versions_are_refused(bundle_dir, tmp_path):
    manifest = json.loads((bundle_dir / "bundle.json").read_text())
    (bundle_dir / "bundle.json").write_text(json.dumps({**manifest, "leukoflow_version": "99.0.0"}))
    with pytest.raises(DatasetError, match="newer than this"):
        load_bundle(bundle_dir)
    (bundle_dir / "bundle.json").write_text(json.dumps({**manifest, "format": "other/2"}))
    with pytest.raises(DatasetError, match="bundle format"):
        load_bundle(bundle_dir)
    with pytest.raises(DatasetError, match="bundle.json is missing"):
        load_bundle(tmp_path)
    with pytest.raises(DatasetError, match="folder not found"):
        load_bundle(tmp_path / "nowhere")


def test_writing_replaces_an_old_bundle_atomically(bundle_dir, tmp_path):
    model, _ = exported(tmp_path / "c.pt", 2)
    write_bundle(bundle_dir, models=[("fold1.pt", model)], files={}, manifest={"models": [{"fold": 1}]})
    assert not (bundle_dir / "fold2.pt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".models.")]
    assert len(load_bundle(bundle_dir).model_files) == 1
