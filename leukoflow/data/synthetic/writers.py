"""The four synthetic datasets, each written in the on-disk layout of the real one.

Every writer puts the dataset under `<out_dir>/data/` and the planted truth in
`<out_dir>/truth.tsv`. The dataset is built in a hidden staging folder beside `data/` and
renamed onto it only when complete, so a killed run never leaves a half-written dataset that
looks finished; an older `data/` is replaced as a whole.

Each image draws from its own random generator keyed by (seed, dataset, image number), so an
image does not change when the number of other images does (ALL-IDB2 crops cut from slides
excepted: which cell such a crop centres depends on the whole plan, `slide_crops`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from leukoflow.core.errors import ConfigError
from leukoflow.core.io import write_table_atomic
from leukoflow.data.datasets import DATASETS
from leukoflow.data.synthetic.cells import BLAST_KINDS
from leukoflow.data.synthetic.field import render_crop
from leukoflow.data.synthetic.slide_crops import cut_planned_crops, plan_slide_crops, slide_cells
from leukoflow.data.synthetic.slides import render_slide

ALLIDB1_JPEG_QUALITY = 90
ALLIDB2_SIZE = 257
# ALL-IDB2 crops that are not 257x257 in the real set: (number, label) -> (width, height).
ALLIDB2_ODD_SIZES = {
    (25, 1): (257, 253),
    (90, 1): (257, 256),
    (103, 1): (257, 253),
    (144, 0): (257, 235),
    (167, 0): (257, 232),
    (197, 0): (257, 220),
    (221, 0): (193, 257),
    (233, 0): (196, 257),
    (238, 0): (257, 214),
    (251, 0): (232, 257),
}
HEALTHY_MIX = (("lymphocyte", 0.7), ("neutrophil", 0.3))  # white cells of healthy ALL-IDB2 crops
UKM_CLASSES = DATASETS["ukm"].classes  # label order of the manifest
MIN_SLIDE_SIDE = 320  # room for one large blast wholly inside the slide

# Dataset keys for the random generators: one stream per (seed, dataset, item).
_ALLIDB1, _ALLIDB2, _CNMC, _UKM = 1, 2, 3, 4


def image_rng(seed: int, *keys: int) -> np.random.Generator:
    """The generator of one item. The key count goes into the entropy because SeedSequence
    pads with zeros: [seed, a, b] and [seed, a, b, 0] would otherwise be the same stream."""
    return np.random.default_rng([seed, len(keys), *keys])


# --- shared plumbing --------------------------------------------------------------------------


@contextlib.contextmanager
def staged_data(out_dir: str | Path) -> Iterator[Path]:
    """Yield a staging folder; on success it becomes `<out_dir>/data` (replacing an old one)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".data.partial-", dir=out_dir))
    try:
        yield staging
        target = out_dir / "data"
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def save_image(array: np.ndarray, path: Path, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".tif":
        import tifffile

        # Uncompressed, no tifffile JSON description: like the real crops, and byte-reproducible.
        tifffile.imwrite(path, array, photometric="rgb", metadata=None)
    else:
        Image.fromarray(array).save(path, **options)


def save_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_truth(out_dir: str | Path, rows: list[dict], columns: Sequence[str]) -> None:
    write_table_atomic(pd.DataFrame(rows, columns=list(columns)), Path(out_dir) / "truth.tsv")


def check_count(dataset: str, key: str, value, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"synthetic.{dataset}.{key}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def check_seed(dataset: str, seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"synthetic.seed: expected a non-negative integer for {dataset}, got {seed!r}")
    return int(seed)


def healthy_kind(rng: np.random.Generator) -> str:
    kinds, weights = zip(*HEALTHY_MIX)
    return str(rng.choice(kinds, p=weights))


def image_ids(n_all: int, n_healthy: int) -> list[tuple[int, int]]:
    """(number, label) of every image: ALL ones first (label 1), then healthy ones (label 0)."""
    return [(i, 1) for i in range(1, n_all + 1)] + [(n_all + i, 0) for i in range(1, n_healthy + 1)]


def stem_of(number: int, label: int) -> str:
    return f"Im{number:03d}_{label}"


# --- ALL-IDB1 ---------------------------------------------------------------------------------


def write_allidb1(
    out_dir: str | Path,
    *,
    n_all: int,
    n_healthy: int,
    resolutions: Sequence[Sequence[int]] = ((2592, 1944), (1712, 1368)),
    layout: str = "split",
    seed: int = 0,
) -> Path:
    """Whole slides `ImXXX_Y.jpg` with blast centroids in `ImXXX_Y.xyc`.

    layout "split": `data/im/*.jpg` and `data/xyc/*.xyc` (the published archive); "flat": both
    in `data/`. Slides cycle through `resolutions` (width, height). Truth: one row per white
    cell (`image_id, x, y, kind, is_blast, radius`); the .xyc holds exactly the blast rows.
    """
    n_all = check_count("allidb1", "n_all", n_all)
    n_healthy = check_count("allidb1", "n_healthy", n_healthy)
    seed = check_seed("allidb1", seed)
    if n_all + n_healthy == 0:
        raise ConfigError("synthetic.allidb1: n_all + n_healthy must be at least 1")
    if layout not in ("split", "flat"):
        raise ConfigError(f"synthetic.allidb1.layout: expected 'split' or 'flat', got {layout!r}")
    sizes = check_resolutions(resolutions)
    rows = []
    with staged_data(out_dir) as data:
        image_dir, xyc_dir = (data / "im", data / "xyc") if layout == "split" else (data, data)
        for index, (number, label) in enumerate(image_ids(n_all, n_healthy)):
            width, height = sizes[index % len(sizes)]
            field, cells = render_slide(image_rng(seed, _ALLIDB1, number), height, width, has_blasts=label == 1)
            stem = stem_of(number, label)
            save_image(field.rgb, image_dir / f"{stem}.jpg", format="JPEG", quality=ALLIDB1_JPEG_QUALITY)
            lines = []
            for cell in cells:
                x, y, is_blast = int(round(cell.x)), int(round(cell.y)), cell.kind in BLAST_KINDS
                rows.append(
                    dict(image_id=stem, x=x, y=y, kind=cell.kind, is_blast=int(is_blast), radius=round(cell.radius, 1))
                )
                if is_blast:
                    lines.append(f"{x}\t{y}\n")
            save_text("".join(lines), xyc_dir / f"{stem}.xyc")
    write_truth(out_dir, rows, ["image_id", "x", "y", "kind", "is_blast", "radius"])
    return Path(out_dir) / "data"


def check_resolutions(resolutions) -> list[tuple[int, int]]:
    try:
        sizes = [(int(w), int(h)) for w, h in resolutions]
    except (TypeError, ValueError):
        raise ConfigError(
            f"synthetic.allidb1.resolutions: expected [[width, height], ...], got {resolutions!r}"
        ) from None
    if not sizes or min(min(size) for size in sizes) < MIN_SLIDE_SIDE:
        raise ConfigError(
            f"synthetic.allidb1.resolutions: need at least one size, each side >= {MIN_SLIDE_SIDE} px; got {resolutions!r}"
        )
    return sizes


# --- ALL-IDB2 ---------------------------------------------------------------------------------


def odd_sizes_for(n_all: int, n_healthy: int) -> dict[tuple[int, int], tuple[int, int]]:
    """Which images get the ten odd sizes of the real set: (number, label) -> (width, height).

    An odd size stays on its real image id when that id exists in the requested count;
    otherwise it moves to the last images of its class, keeping at least half of each class
    at 257x257, so small synthetic sets still hold some odd sizes.
    """
    ids = set(image_ids(n_all, n_healthy))
    placed = {key: size for key, size in ALLIDB2_ODD_SIZES.items() if key in ids}
    for label, count in ((1, n_all), (0, n_healthy)):
        homeless = [size for key, size in sorted(ALLIDB2_ODD_SIZES.items()) if key[1] == label and key not in ids]
        taken = sum(1 for key in placed if key[1] == label)
        room = max(0, count // 2 - taken)
        numbers = [number for number, lab in image_ids(n_all, n_healthy) if lab == label]
        free = [number for number in numbers if (number, label) not in placed][-room:] if room else []
        for number, size in zip(free, homeless):
            placed[(number, label)] = size
    return placed


def write_allidb2(
    out_dir: str | Path,
    *,
    n_all: int,
    n_healthy: int,
    odd_sizes: bool = True,
    from_slides: float = 0.5,
    slides: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """Single-cell crops `data/img/ImXXX_Y.tif`, uncompressed RGB, 257x257 unless odd-sized.

    With `slides` (the folder of a synthetic ALL-IDB1: its `data/` and `truth.tsv`), up to a
    share `from_slides` of each class is cut from those slides around a white cell of the class
    (`slide_crops`); the other crops are rendered alone and come from no slide. Truth: `id, kind,
    slide, x, y`, with the top-left corner (x, y) of the crop in its slide, empty for no slide.
    """
    n_all = check_count("allidb2", "n_all", n_all)
    n_healthy = check_count("allidb2", "n_healthy", n_healthy)
    seed = check_seed("allidb2", seed)
    if n_all + n_healthy == 0:
        raise ConfigError("synthetic.allidb2: n_all + n_healthy must be at least 1")
    if isinstance(from_slides, bool) or not isinstance(from_slides, (int, float)) or not 0 <= from_slides <= 1:
        raise ConfigError(f"synthetic.allidb2.from_slides: expected a share in [0, 1], got {from_slides!r}")
    odd = odd_sizes_for(n_all, n_healthy) if odd_sizes else {}
    ids = image_ids(n_all, n_healthy)
    rngs = {number: image_rng(seed, _ALLIDB2, number) for number, _ in ids}
    cut = {}
    if slides is not None and from_slides > 0:
        cells, slide_paths, sizes = slide_cells(slides)
        numbers = {label: [n for n, lab in ids if lab == label] for label in (1, 0)}
        planned = plan_slide_crops(cells, sizes, numbers, from_slides, ALLIDB2_SIZE, image_rng(seed, _ALLIDB2, 0, 0))
        cut = cut_planned_crops(planned, slide_paths, rngs, ALLIDB2_SIZE)
    rows = []
    with staged_data(out_dir) as data:
        for number, label in ids:
            rng = rngs[number]
            origin = None
            if number in cut:
                crop = cut[number]
                kind, rgb, origin = crop.kind, crop.rgb, (crop.slide, crop.left, crop.top)
            else:
                kind = "lymphoblast" if label == 1 else healthy_kind(rng)
                rgb = render_crop(rng, kind, ALLIDB2_SIZE).rgb
            if (number, label) in odd:
                top, left = edge_offset(rng, rgb.shape, *odd[(number, label)])
                width, height = odd[(number, label)]
                rgb = np.ascontiguousarray(rgb[top : top + height, left : left + width])
                if origin is not None:
                    origin = (origin[0], origin[1] + left, origin[2] + top)
            stem = stem_of(number, label)
            save_image(rgb, data / "img" / f"{stem}.tif")
            slide, x, y = origin if origin is not None else ("", None, None)
            rows.append(dict(id=stem, kind=kind, slide=slide, x=x, y=y))
    truth = pd.DataFrame(rows, columns=["id", "kind", "slide", "x", "y"])
    truth[["x", "y"]] = truth[["x", "y"]].astype("Int64")  # integers, blank for crops from no slide
    write_table_atomic(truth, Path(out_dir) / "truth.tsv")
    return Path(out_dir) / "data"


def edge_offset(rng: np.random.Generator, shape: Sequence[int], width: int, height: int) -> tuple[int, int]:
    """(top, left) of a width x height window flush with one side of an image of `shape`: the real
    odd-sized crops met a slide edge."""
    top = 0 if rng.random() < 0.5 else shape[0] - height
    left = 0 if rng.random() < 0.5 else shape[1] - width
    return top, left


# --- UKM-WBC ----------------------------------------------------------------------------------


# Look-alike pairs of the overlap setting: promyelocytes and neutrophils share granules and
# an eccentric nucleus at the myelocyte stages between them; lymphoblasts are left as they are.
UKM_LOOK_ALIKES = {"neutrophil": "promyelocyte", "promyelocyte": "neutrophil"}
_UKM_DIFFICULTY_STREAM = 1  # the draws of the difficulty settings, apart from the image's own


def write_ukm(
    out_dir: str | Path,
    *,
    per_class: int,
    size: int = 256,
    overlap: float = 0.0,
    uneven_light: float = 0.0,
    touching_red: float = 0.0,
    seed: int = 0,
) -> Path:
    """`data/<class>/images/<stem>.png` with a 0/255 nucleus mask `data/<class>/masks/<stem>.png`.

    Classes neutrophil, promyelocyte, lymphoblast; stems `<class>_NNNN`. Difficulty (all 0 by
    default, which draws every image as before these settings existed): `overlap` is the share
    of neutrophils drawn with a promyelocyte's morphology and the reverse, labelled by their
    folder (so no classifier can exceed 1 - overlap on those two classes); `uneven_light` the
    strength of an illumination gradient across each image; `touching_red` the share of images
    whose red cells lie over the white cell's cytoplasm. truth.tsv holds each image's class
    `kind` and the `drawn` morphology.
    """
    per_class = check_count("ukm", "per_class", per_class, 1)
    size = check_count("ukm", "size", size, 64)
    seed = check_seed("ukm", seed)
    for name, value in (("overlap", overlap), ("uneven_light", uneven_light), ("touching_red", touching_red)):
        if not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"synthetic.ukm.{name}: expected a share in [0, 1], got {value!r}")
    rows = []
    with staged_data(out_dir) as data:
        for class_index, kind in enumerate(UKM_CLASSES):
            for number in range(1, per_class + 1):
                draws = image_rng(seed, _UKM, class_index, number, _UKM_DIFFICULTY_STREAM)
                swap, touch, clearance = draws.random(), draws.random(), draws.uniform(0.35, 0.7)
                gradient = uneven_light * draws.uniform(0.5, 1.0) * 0.4  # up to 40 % darker at one edge
                direction = draws.uniform(0.0, 2.0 * np.pi)
                drawn = UKM_LOOK_ALIKES[kind] if kind in UKM_LOOK_ALIKES and swap < overlap else kind
                field = render_crop(
                    image_rng(seed, _UKM, class_index, number),
                    drawn,
                    size,
                    light_gradient=(gradient * np.cos(direction), gradient * np.sin(direction)),
                    extra_vignetting=uneven_light * draws.uniform(0.0, 0.25),
                    red_cell_clearance=float(clearance) if touch < touching_red else 1.0,
                )
                stem = f"{kind}_{number:04d}"
                save_image(field.rgb, data / kind / "images" / f"{stem}.png", format="PNG")
                save_image(field.nucleus.astype(np.uint8) * 255, data / kind / "masks" / f"{stem}.png", format="PNG")
                rows.append(dict(id=f"{kind}/{stem}", kind=kind, drawn=drawn))
    write_truth(out_dir, rows, ["id", "kind", "drawn"])
    return Path(out_dir) / "data"
