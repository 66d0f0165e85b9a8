"""Building the bags names, in the job's log, every crop cut down to the frame."""

import logging

import numpy as np
import tifffile

from leukoflow.allidb2.bags import build_augmented_bags
from leukoflow.core.io import write_table_atomic
from leukoflow.data.readers import scan
from leukoflow.data.synthetic import write_allidb2


def test_crop_larger_than_the_frame_is_named_in_a_warning(tmp_path, caplog):
    data = write_allidb2(tmp_path / "synthetic", n_all=5, n_healthy=5, odd_sizes=False, seed=2)
    big = next(data.rglob("Im002_1.tif"))
    tifffile.imwrite(big, np.random.default_rng(0).integers(0, 256, (270, 300, 3), dtype=np.uint8))
    manifest = tmp_path / "allidb2.tsv"
    write_table_atomic(scan("allidb2", data).manifest, manifest)

    build_augmented_bags(
        str(manifest),
        [str(tmp_path / f"bag{b}.pt") for b in range(1, 6)],
        str(tmp_path / "index.tsv"),
        protocol="paper",
        angles_deg=[0],
        mirror=False,
        frame=257,
        input_size=33,
        seed=1,
    )
    cut = [r for r in caplog.records if r.levelno == logging.WARNING and "dropped" in r.getMessage()]
    assert [r.getMessage() for r in cut] == [
        f"{big}: 300x270 crop is larger than the 257x257 frame: centre-cropped, 43 px of width and 13 px of height dropped"
    ]
    # Caught at the root logger, where a job's log file handler sits (leukoflow.runtime.job).
    assert cut[0].name.startswith("leukoflow.")
