"""Jobs that only run a network import no Lightning (issue 10): every module the slide rules'
scripts and functions import. Training (ALL-IDB2's frozen-trunk path included) goes through the
one Lightning `fit` and is not listed here."""

import subprocess
import sys

from tests.helpers import REPO

SLIDE_JOB_MODULES = (
    "leukoflow.runtime.job",
    "leukoflow.data.manifest",
    "leukoflow.core.device",
    "leukoflow.inference",
    "leukoflow.allidb1.stages",
    "leukoflow.slides.heatmap",
    "leukoflow.allidb1.localisation",
    "leukoflow.allidb1.cellsize",
    "leukoflow.slides.centroids",
    "leukoflow.allidb1.panels",
    "leukoflow.allidb1.table2",
    "leukoflow.allidb1.report_section",
    "leukoflow.nets.ghosh",
)


def test_slide_jobs_import_no_lightning():
    code = (
        f"import sys, importlib; [importlib.import_module(m) for m in {SLIDE_JOB_MODULES!r}]; "
        "bad = [m for m in sys.modules if m.startswith(('pytorch_lightning', 'lightning'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
