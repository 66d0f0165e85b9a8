"""benchmarks/gpu_check.sh in its --dry mode (CPU only, tiny sizes): it must not rot unseen on
machines without a GPU, and a part that breaks is reported, not hidden."""

import importlib.util
import json
import math
import subprocess

import pytest

from tests.helpers import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


def load_module():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_dry_mode_runs_every_part_and_writes_json_and_table(tmp_path):
    result = subprocess.run([str(SCRIPT), "--dry", "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    statuses = {name: part.get("status") for name, part in report.items()}
    assert statuses["environment"] == "ok" and report["environment"]["dry"] is True
    assert statuses["inference_parity"] == "pass" and statuses["cuda_tests"] == "pass"
    assert statuses["workflow_parity"] == "planned"  # both configs plan; dry runs train nothing
    assert statuses["timm_parity"] in ("skipped", "pass")
    cpu = report["throughput"]["figures"]["cpu"]
    for measurement in ("train_alexnet_fp32", "train_efficientnet_lite0_top_fp32", "frozen_pass_efficientnet_lite0",
                        "train_inception_resnet_v2", "train_unet", "heatmap_slide", "patch_scoring", "screening"):  # fmt: skip
        assert cpu[measurement]["per_s"] > 0, measurement
    assert "cuda" not in report["throughput"]["figures"]  # dry: the CPU only
    hours = report["projection"]["hours"]["cpu"]
    assert all(math.isfinite(value) and value > 0 for value in hours.values())
    assert "DRY" in report["projection"]["note"]
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| train_alexnet_fp32 |" in table and "projected compute, hours" in table


def test_a_failing_part_is_recorded_and_fails_the_check(tmp_path, monkeypatch):
    module = load_module()

    def broken(args, sizes):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(module, "PARTS", {"environment": module.part_environment, "broken": broken})
    assert module.main(["--dry", "--out", str(tmp_path)]) == 1
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["broken"]["status"] == "error" and "kernel exploded" in report["broken"]["error"]
    assert report["environment"]["status"] == "ok"  # the other parts still ran


def test_without_a_gpu_the_real_check_refuses_and_says_why(tmp_path, capsys, monkeypatch):
    module = load_module()
    monkeypatch.setattr(module.torch.cuda, "is_available", lambda: False)
    assert module.main(["--out", str(tmp_path)]) == 2
    assert "--dry" in capsys.readouterr().err
