"""scripts/torch-index.sh: which index scripts/setup.sh installs torch from.

The script runs for real; the machine it sees is set by what its PATH holds: an `nvidia-smi`
that lists a GPU, one that fails (no driver), none at all, and a `uname` for macOS.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "torch-index.sh"
CPU = "--index-url https://download.pytorch.org/whl/cpu"
GPU_LIST = "GPU 0: NVIDIA H200 (UUID: GPU-0)"


def fake_bin(tmp_path: Path, nvidia_smi: str | None, system: str = "Linux") -> Path:
    """A PATH folder holding only a fake `uname` and, if asked, a fake `nvidia-smi`:
    'gpu' lists one GPU, 'broken' fails as it does without a driver."""
    folder = tmp_path / "bin"
    folder.mkdir()
    programs = {"uname": f"echo {system}\n"}
    if nvidia_smi == "gpu":
        programs["nvidia-smi"] = f"echo '{GPU_LIST}'\n"
    elif nvidia_smi == "broken":
        programs["nvidia-smi"] = "echo 'NVIDIA-SMI has failed: no driver' >&2\nexit 9\n"
    for name, body in programs.items():
        path = folder / name
        path.write_text(f"#!/bin/bash\n{body}")
        path.chmod(0o755)
    return folder


def torch_index(
    tmp_path: Path, nvidia_smi: str | None, choice: str | None = None, system: str = "Linux"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REPLYLOOP_TORCH_INDEX"}
    # Only the fake programs: a real nvidia-smi on this machine must not decide.
    env["PATH"] = str(fake_bin(tmp_path, nvidia_smi, system))
    if choice is not None:
        env["REPLYLOOP_TORCH_INDEX"] = choice
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize("nvidia_smi", [None, "broken"])
def test_linux_without_a_gpu_gets_the_cpu_index(tmp_path: Path, nvidia_smi: str | None) -> None:
    result = torch_index(tmp_path, nvidia_smi)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, CPU, "")


def test_a_gpu_gets_the_usual_index_and_its_cuda_build(tmp_path: Path) -> None:
    result = torch_index(tmp_path, "gpu")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_macos_gets_the_usual_index_whose_build_is_cpu_already(tmp_path: Path) -> None:
    result = torch_index(tmp_path, None, system="Darwin")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(
    ("nvidia_smi", "choice", "printed"),
    [
        ("gpu", "cpu", CPU),
        (None, "cuda", ""),
        (None, "https://mirror.example/whl/cu128", "--index-url https://mirror.example/whl/cu128"),
    ],
)
def test_replyloop_torch_index_overrides(
    tmp_path: Path, nvidia_smi: str | None, choice: str, printed: str
) -> None:
    result = torch_index(tmp_path, nvidia_smi, choice)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, printed, "")


def test_an_unknown_choice_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = torch_index(tmp_path, None, "rocm")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "setup: REPLYLOOP_TORCH_INDEX=rocm is not cpu, cuda or an index URL (https://...)"
    ]
