# Screening a facility's own smears (docs/screen.md): the red-cell scale of each image, its white
# cells, P(ALL) of each from the bundle's fold models, an out-of-domain check, per-cell and
# per-image tables, overlays, QuPath GeoJSON and a review page. Never trains: the models come
# from a bundle, this run's (rule screen_bundle, from the ALL-IDB2 folds) or `screen.models`.

from leukoflow.config import screen_images
from leukoflow.screen.files import group_ids

SCREEN = config["screen"]
SCREEN_ON = is_enabled("screen")
SCREEN_DIR = f"{RESULTS}/screen"
SCREEN_SYNTHETIC = not SCREEN["root"]
SCREEN_DATA = f"{RESULTS}/synthetic/screen/data"
SCREEN_ROOT = SCREEN["root"] or SCREEN_DATA
# Images found at parse time (no checkpoint); the manifest later drops any that do not decode.
SCREEN_LISTING = screen_images(config) if SCREEN_ON else None
SCREEN_GROUPS = (
    group_ids(
        SCREEN_LISTING.loc[SCREEN_LISTING["supported"], "id"], SCREEN["group_size"]
    )
    if SCREEN_ON
    else []
)
SCREEN_GROUP_NAMES = [str(number) for number in range(1, len(SCREEN_GROUPS) + 1)]
OWN_BUNDLE = not SCREEN["models"]
BUNDLE = SCREEN["models"] or f"{RESULTS}/models"
BUNDLE_FOLDS = CNN["folds"]
SCREEN_GROUP_DIR = f"{SCREEN_DIR}/groups/group{{group}}"
# A CSV of pixel sizes is an input (edited, it reruns the screening); a number is a parameter.
PIXEL_SIZE_FILE = (
    [SCREEN["pixel_size_um"]] if isinstance(SCREEN["pixel_size_um"], str) else []
)


wildcard_constraints:
    group=r"\d+",


rule screen_synthesize:
    output:
        data=directory(SCREEN_DATA),
        truth=f"{RESULTS}/synthetic/screen/truth.tsv",
    log:
        f"{LOGS}/screen_synthesize/screen.log",
    benchmark:
        f"{BENCHMARKS}/screen_synthesize/screen.tsv"
    conda:
        ENV
    params:
        settings=config["synthetic"]["screen"],
        seed=config["synthetic"]["seed"],
    script:
        f"{SCRIPTS}/screen/synthesize.py"


rule screen_manifest:
    input:
        data=[SCREEN_DATA] if SCREEN_SYNTHETIC else [],
    output:
        manifest=f"{SCREEN_DIR}/manifest.tsv",
        rejected=f"{SCREEN_DIR}/rejected.tsv",
    log:
        f"{LOGS}/screen_manifest/screen.log",
    benchmark:
        f"{BENCHMARKS}/screen_manifest/screen.tsv"
    conda:
        ENV
    threads: 2
    params:
        # A user's folder is not an output of this workflow; the synthetic one is the input above.
        root=lambda wildcards, input: input.data[0] if input.data else SCREEN_ROOT,
        strict=SCREEN["strict"],
    script:
        f"{SCRIPTS}/screen/manifest.py"


if OWN_BUNDLE:

    # This run's fold models of one protocol with the statistics of their training crops.
    rule screen_bundle:
        input:
            manifest=ALLIDB2_MANIFEST,
            source=f"{RESULTS}/manifests/allidb2.source.json",
            models=expand(
                ALLIDB2_MODEL, protocol=SCREEN["bundle_protocol"], fold=BUNDLE_FOLDS
            ),
            table1=ALLIDB2_TABLE1.format(protocol=SCREEN["bundle_protocol"]),
        output:
            bundle=directory(BUNDLE),
        log:
            f"{LOGS}/screen_bundle/bundle.log",
        benchmark:
            f"{BENCHMARKS}/screen_bundle/bundle.tsv"
        conda:
            ENV
        threads: THREADS
        resources:
            gpu=GPU_PER_JOB,
        params:
            folds=BUNDLE_FOLDS,
            protocol=SCREEN["bundle_protocol"],
            frame=CNN["frame"],
            input_size=CNN["input_size"],
            crop_cell_fraction=config["allidb1"]["slides"]["crop_cell_fraction"],
            training={
                key: CNN[key]
                for key in ("backbone", "pretrained", "epochs", "optimizer", "lr")
            },
            compute=DEVICE,
        script:
            f"{SCRIPTS}/screen/bundle.py"


# One job per group of images (one GPU per job when GPUs are on): decode once, scale, cells,
# every fold model on all crops of the group in one batch, overlays and GeoJSON.
rule screen_cells:
    input:
        manifest=rules.screen_manifest.output.manifest,
        bundle=BUNDLE,
        pixel_sizes=PIXEL_SIZE_FILE,
    output:
        cells=f"{SCREEN_GROUP_DIR}/cells.tsv",
        images=f"{SCREEN_GROUP_DIR}/images.tsv",
        gallery=f"{SCREEN_GROUP_DIR}/gallery.npz",
        files=directory(f"{SCREEN_GROUP_DIR}/files"),
    log:
        f"{LOGS}/screen_cells/group{{group}}.log",
    benchmark:
        f"{BENCHMARKS}/screen_cells/group{{group}}.tsv"
    conda:
        ENV
    threads: THREADS
    resources:
        gpu=GPU_PER_JOB,
    params:
        images=lambda wildcards: SCREEN_GROUPS[int(wildcards.group) - 1],
        settings={
            key: SCREEN[key]
            for key in (
                "abnormal_threshold",
                "min_abnormal_cells",
                "verdict_out_of_domain",
                "nucleus_threshold",
            )
        },
        pixel_size_um=SCREEN["pixel_size_um"],
        compute=DEVICE,
    script:
        f"{SCRIPTS}/screen/cells.py"


rule screen_report:
    input:
        cells=expand(f"{SCREEN_GROUP_DIR}/cells.tsv", group=SCREEN_GROUP_NAMES),
        images=expand(f"{SCREEN_GROUP_DIR}/images.tsv", group=SCREEN_GROUP_NAMES),
        gallery=expand(f"{SCREEN_GROUP_DIR}/gallery.npz", group=SCREEN_GROUP_NAMES),
        files=expand(f"{SCREEN_GROUP_DIR}/files", group=SCREEN_GROUP_NAMES),
        bundle=BUNDLE,
    output:
        cells=f"{SCREEN_DIR}/cells.tsv",
        images=f"{SCREEN_DIR}/images.tsv",
        overlays=directory(f"{SCREEN_DIR}/overlays"),
        geojson=directory(f"{SCREEN_DIR}/geojson"),
        html=f"{SCREEN_DIR}/index.html",
    log:
        f"{LOGS}/screen_report/screen.log",
    benchmark:
        f"{BENCHMARKS}/screen_report/screen.tsv"
    conda:
        ENV
    params:
        synthetic=SCREEN_SYNTHETIC,
        root=SCREEN_ROOT,
        threshold=SCREEN["abnormal_threshold"],
    script:
        f"{SCRIPTS}/screen/report.py"


# `snakemake screen_all`: the screening outputs only (and what they need).
rule screen_all:
    default_target: False
    input:
        [f"{SCREEN_DIR}/images.tsv", f"{SCREEN_DIR}/index.html"] if SCREEN_ON else [],


if SCREEN_ON:
    REPORT_INPUTS.update(
        screen_images=f"{SCREEN_DIR}/images.tsv",
        screen_cells=f"{SCREEN_DIR}/cells.tsv",
        screen_page=f"{SCREEN_DIR}/index.html",
    )
