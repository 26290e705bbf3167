"""Every command the README shows runs here, the main job on a small slice of the data."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import requires_fashion_mnist

README = Path(__file__).resolve().parent.parent / "README.md"
QUICK = ["--epochs", "1", "--train-limit", "256", "--eval-limit", "100", "--calibration-size", "32", "--samples", "50"]


def readme_first_block() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README.read_text(), re.DOTALL).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def edgepipe(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgepipe", *arguments], capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def main_job(tmp_path_factory):
    """The README's first command on a small slice of the data; returns the output directory and the run."""
    command = readme_first_block()[0].split("&&")[1].split()
    assert command[0].endswith("edgepipe")
    out = tmp_path_factory.mktemp("readme") / "artifacts"
    return out, edgepipe(*command[1:], *QUICK, "--out", str(out))


def test_readme_starts_with_run_and_test():
    first, second = readme_first_block()
    assert first == "make setup && .venv/bin/edgepipe run --target rpi4 --budget 2MB"
    assert second == "make test"
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


@requires_fashion_mnist
def test_readme_main_job_runs_quickly(main_job):
    out, result = main_job
    assert result.returncode == 0, result.stderr[-3000:]
    assert "int8 pte (ExecuTorch)" in result.stdout
    assert "int8 tflite (LiteRT)" in result.stdout
    assert (out / "model.pte").stat().st_size <= 2_000_000
    assert (out / "model.tflite").stat().st_size <= 2_000_000


@requires_fashion_mnist
@pytest.mark.skipif(not (shutil.which("qemu-aarch64-static") and os.geteuid() == 0),
                    reason="needs root and qemu-user-static (make setup installs it)")
def test_readme_emulate_example_runs(main_job):
    out, _ = main_job
    example = re.search(r"`(edgepipe emulate artifacts/rpi4-2MB [^`]*)`", README.read_text()).group(1)
    arguments = example.replace("artifacts/rpi4-2MB", str(out)).split()[1:]
    result = edgepipe(*arguments, "--samples", "50")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "top-1 agreement with host" in result.stdout


@pytest.mark.parametrize("command", ["edgepipe targets", "edgepipe models", "edgepipe run --help"])
def test_readme_listed_commands_run(command):
    assert f"`{command}`" in README.read_text()
    result = edgepipe(*command.split()[1:])
    assert result.returncode == 0, result.stderr
