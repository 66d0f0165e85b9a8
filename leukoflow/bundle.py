"""A model bundle: trained networks and everything needed to apply them elsewhere, in one folder.

    results/models/
      bundle.json        format, versions, what the models classify, the scale they were trained
                         at, the data they were trained on (real or synthetic), every file's sha256
      fold<k>.pt         the exported networks (`inference.load_exported`; weights_only files)
      domain.npz         statistics of the training crops (`screen.domain`): stain, features
      config.yaml        the settings the models were trained with
      table1.tsv         their test metrics with confidence intervals
      MODEL_CARD.md      data, protocol, metrics, intended use, known limits

`write_bundle` writes the folder atomically (a temporary folder renamed into place);
`load_bundle` checks the format, the leukoflow version that wrote it and every file's hash before
a network is built, and names the file and the problem otherwise. Nothing but this folder is
needed to screen on another machine (no dataset, no training code).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from leukoflow import __version__
from leukoflow.core.errors import DatasetError
from leukoflow.core.io import sha256_file

BUNDLE_FORMAT = "leukoflow.bundle/1"
MANIFEST = "bundle.json"


def _major(version: str) -> tuple[int, int]:
    parts = (version.split(".") + ["0", "0"])[:2]
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return (0, 0)


@dataclass(frozen=True)
class Bundle:
    """A checked bundle: its folder and manifest; `models()` builds the networks."""

    root: Path
    manifest: dict = field(repr=False)

    @property
    def model_files(self) -> list[Path]:
        return [self.root / entry["file"] for entry in self.manifest["models"]]

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])

    @property
    def training_scale(self) -> dict:
        return dict(self.manifest["training_scale"])

    @property
    def data(self) -> str:
        return str(self.manifest.get("data", "unknown"))

    def path(self, name: str) -> Path:
        return self.root / name

    def models(self) -> list:
        """Every fold's network, in eval mode on the CPU (once per job)."""
        from leukoflow.inference import load_exported

        return [load_exported(path) for path in self.model_files]


def write_bundle(
    out_dir: str | Path,
    *,
    models: Sequence[tuple[str, str | Path]],
    files: Mapping[str, Path | bytes | str],
    manifest: Mapping,
) -> Path:
    """Write a bundle folder: `models` are (name, exported file) copied in, `files` are extra
    members (a `Path` is copied, `str` and `bytes` are written as they are), `manifest` the
    descriptive fields (its `models` list, if any, adds fields to each model's entry).

    The folder is built beside `out_dir` and renamed onto it, so a killed job leaves no bundle
    that looks complete; an existing bundle there is replaced.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        entries = []
        for name, source in models:
            shutil.copyfile(source, staging / name)
            entries.append({"file": name, "sha256": sha256_file(staging / name)})
        hashes = {}
        for name, content in files.items():
            target = staging / name
            if isinstance(content, bytes):
                target.write_bytes(content)
            elif isinstance(content, Path):
                shutil.copyfile(content, target)
            else:
                target.write_text(str(content))
            hashes[name] = sha256_file(target)
        import torch

        document = {
            "format": BUNDLE_FORMAT,
            "leukoflow_version": __version__,
            "torch_version": torch.__version__,
            **dict(manifest),
            "models": [
                {**entry, **extra} for entry, extra in zip(entries, manifest.get("models", [{}] * len(entries)))
            ],
            "files": hashes,
        }
        (staging / MANIFEST).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        os.chmod(staging, 0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir


def load_bundle(root: str | Path) -> Bundle:
    """Read and check a bundle folder; networks are built later by `Bundle.models`.

    Raises
    ------
    DatasetError
        Naming the file: no bundle.json, another format, a bundle written by a newer leukoflow,
        a member missing or changed since it was written (sha256), no model.
    """
    root = Path(root).expanduser()
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise DatasetError(root, "model bundle folder not found (screen.models)")
    if not manifest_path.is_file():
        raise DatasetError(manifest_path, "not a model bundle: bundle.json is missing")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(manifest_path, f"unreadable bundle manifest ({exc})") from exc
    if manifest.get("format") != BUNDLE_FORMAT:
        raise DatasetError(
            manifest_path, f"bundle format {manifest.get('format')!r} is not {BUNDLE_FORMAT!r} (this leukoflow reads)"
        )
    written_by = str(manifest.get("leukoflow_version", "0"))
    if _major(written_by) > _major(__version__):
        raise DatasetError(
            manifest_path,
            f"written by leukoflow {written_by}, newer than this {__version__}; update leukoflow to read it",
        )
    if not manifest.get("models"):
        raise DatasetError(manifest_path, "the bundle lists no model")
    expected = {entry["file"]: entry["sha256"] for entry in manifest["models"]}
    expected.update(manifest.get("files", {}))
    for name, digest in expected.items():
        member = root / name
        if not member.is_file():
            raise DatasetError(member, "listed in bundle.json but missing from the bundle")
        actual = sha256_file(member)
        if actual != digest:
            raise DatasetError(
                member, f"sha256 {actual[:12]}... differs from bundle.json ({digest[:12]}...): changed or damaged"
            )
    return Bundle(root=root, manifest=manifest)
