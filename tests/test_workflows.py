"""The CI workflows are valid GitHub Actions (actionlint), and the GPU one runs the notebooks on hub models."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_workflows_pass_actionlint():
    exe = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    proc = subprocess.run(
        [exe, *map(str, (ROOT / ".github/workflows").glob("*.yml"))], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gpu_workflow_runs_the_notebooks_on_hub_models():
    wf = yaml.safe_load((ROOT / ".github/workflows/gpu.yml").read_text())
    job = wf["jobs"]["notebooks"]
    assert job["runs-on"] == ["self-hosted", "gpu"]
    assert job["env"]["INTERP_CAUSAL"] == "gpt2" and job["env"]["INTERP_BIDIRECTIONAL"] == "bert-base-uncased"
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert "--nbval-lax" in script and "torch.cuda.is_available()" in script
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in job["steps"])
    cpu = yaml.safe_load((ROOT / ".github/workflows/cpu.yml").read_text())
    assert "bash .ci/run" in "\n".join(s.get("run", "") for s in cpu["jobs"]["test"]["steps"])


def test_gpu_workflow_runs_the_notebooks_on_a_model_spread_over_two_gpus():
    job = yaml.safe_load((ROOT / ".github/workflows/gpu.yml").read_text())["jobs"]["sharded-notebooks"]
    assert job["env"]["INTERP_DEVICE_MAP"] == "auto"
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert "device_count()" in script and ">= 2" in script and "hf_device_map" in script
    assert "--nbval-lax" in script
