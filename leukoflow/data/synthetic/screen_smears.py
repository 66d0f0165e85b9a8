"""A facility's folder as the screening stage meets it: smears with plain file names, in several
formats and folders, no labels, no annotations, one of them at another magnification.

Truth (`truth.tsv`, beside `data/`, never read by the screening): one row per planted white cell
(`image`, the file's path under `data/`, `x`, `y`, `kind`, `is_blast`, `radius`) and the smear's
planted red-cell diameter (`red_cell_px`) and whether it holds blasts (`has_blasts`).
"""

from __future__ import annotations

from pathlib import Path

from leukoflow.data.synthetic.cells import BLAST_KINDS
from leukoflow.data.synthetic.slides import render_smear
from leukoflow.data.synthetic.writers import check_count, check_seed, image_rng, save_image, staged_data, write_truth

_SCREEN = 5  # the generator's stream for screening smears (the datasets use 1-4)
NAMES = ("smear 01.jpg", "clinic-b/patient_7.png", "2026-11-30 scan.tif", "old scope/slide A.bmp")
FORMATS = {
    ".jpg": {"format": "JPEG", "quality": 92},
    ".png": {"format": "PNG"},
    ".tif": {"format": "TIFF"},
    ".bmp": {"format": "BMP"},
}
MAGNIFICATIONS = (1.0, 1.0, 1.0, 0.7)  # the last smear comes from a lower-magnification microscope


def smear_names(n_smears: int) -> list[str]:
    return [NAMES[k] if k < len(NAMES) else f"more/smear-{k + 1:02d}.jpg" for k in range(n_smears)]


def write_screen(out_dir: str | Path, *, n_smears: int, width: int = 1024, height: int = 768, seed: int = 0) -> Path:
    """`n_smears` smears under `<out_dir>/data/`; odd-numbered ones (1st, 3rd, ...) hold blasts."""
    n_smears = check_count("screen", "n_smears", n_smears, minimum=1)
    seed = check_seed("screen", seed)
    rows = []
    with staged_data(out_dir) as data:
        for index, name in enumerate(smear_names(n_smears)):
            has_blasts = index % 2 == 0
            magnification = MAGNIFICATIONS[index % len(MAGNIFICATIONS)]
            field, cells, red = render_smear(image_rng(seed, _SCREEN, index), height, width, has_blasts, magnification)
            path = data / name
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(field.rgb, path, **FORMATS[path.suffix])
            for cell in cells:
                rows.append(
                    dict(
                        image=name,
                        x=round(cell.x, 1),
                        y=round(cell.y, 1),
                        kind=cell.kind,
                        is_blast=int(cell.kind in BLAST_KINDS),
                        radius=round(cell.radius, 1),
                        red_cell_px=round(red, 2),
                        has_blasts=int(has_blasts),
                    )
                )
    write_truth(out_dir, rows, ["image", "x", "y", "kind", "is_blast", "radius", "red_cell_px", "has_blasts"])
    return Path(out_dir) / "data"
