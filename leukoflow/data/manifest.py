"""Build and write one dataset's manifest, its rejected list and a provenance record."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from leukoflow.core.io import sha256_file, write_table_atomic, write_text_atomic

log = logging.getLogger(__name__)


def build_manifest(
    *,
    dataset: str,
    root: str,
    strict: bool,
    synthetic: bool,
    synthetic_settings: dict | None,
    seed: int,
    manifest_out: str,
    rejected_out: str,
    source_out: str,
) -> pd.DataFrame:
    from leukoflow.data.readers import scan

    result = scan(dataset, root, strict=strict)
    write_table_atomic(result.manifest, manifest_out)
    write_table_atomic(result.rejected, rejected_out)
    source = {
        "dataset": dataset,
        "source": "synthetic" if synthetic else "real",
        "root": str(Path(root).resolve()),
        "strict": strict,
        "n_images": int(len(result.manifest)),
        "n_rejected": int(len(result.rejected)),
        "manifest_sha256": sha256_file(manifest_out),
        "synthetic_settings": dict(synthetic_settings) if synthetic else None,
        "synthetic_seed": seed if synthetic else None,
    }
    write_text_atomic(source_out, json.dumps(source, indent=2) + "\n")
    log.info(
        "%s: %d images, %d rejected (%s data, root %s)",
        dataset,
        source["n_images"],
        source["n_rejected"],
        source["source"],
        source["root"],
    )
    return result.manifest


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest with stable dtypes (ids and subjects stay strings)."""
    return pd.read_csv(
        path,
        sep="\t",
        dtype={"id": str, "source_id": str, "split": str, "class_name": str, "annotation": str},
        keep_default_na=False,
        na_values={"n_annotations": [""]},
    )


def read_source(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
