"""Every command the README shows runs here, the main job on a small slice of the data."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import requires_fashion_mnist

README = Path(__file__).resolve().parent.parent / "README.md"
QUICK = ["--epochs", "1", "--train-limit", "256", "--eval-limit", "100", "--calibration-size", "32"]


def readme_first_block() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README.read_text(), re.DOTALL).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_readme_starts_with_run_and_test():
    first, second = readme_first_block()
    assert first == "make setup && .venv/bin/edgepipe run --target rpi4 --budget 2MB"
    assert second == "make test"
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


@requires_fashion_mnist
def test_readme_main_job_runs_quickly(tmp_path):
    command = readme_first_block()[0].split("&&")[1].split()
    assert command[0].endswith("edgepipe")
    out = tmp_path / "artifacts"
    result = subprocess.run([sys.executable, "-m", "edgepipe", *command[1:], *QUICK, "--out", str(out)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "int8 pte (ExecuTorch)" in result.stdout
    assert "int8 tflite (LiteRT)" in result.stdout
    assert (out / "model.pte").stat().st_size <= 2_000_000
    assert (out / "model.tflite").stat().st_size <= 2_000_000


@pytest.mark.parametrize("command", ["edgepipe targets", "edgepipe models", "edgepipe run --help"])
def test_readme_listed_commands_run(command):
    assert f"`{command}`" in README.read_text()
    result = subprocess.run([sys.executable, "-m", *command.split()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
