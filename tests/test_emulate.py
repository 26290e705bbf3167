"""Emulation: command lines for both engines, errors that explain, and real qemu runs on two ARM CPUs."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgepipe.errors import ConfigError
from edgepipe.pipeline import emulate as emulation
from edgepipe.pipeline.data import load_dataset
from edgepipe.pipeline.emulate import (
    EmulationError,
    choose_engine,
    cpuinfo_text,
    docker_build_command,
    docker_image_tag,
    docker_run_command,
    emulate,
    emulate_or_explain,
    qemu_command,
    read_pins,
    sysroot_key,
)
from edgepipe.pipeline.emulate_artifact import emulate_artifact
from edgepipe.targets import load_target

REPOSITORY = Path(__file__).resolve().parent.parent
QEMU_READY = shutil.which("qemu-aarch64-static") and shutil.which("aarch64-linux-gnu-g++") and os.geteuid() == 0
requires_qemu = pytest.mark.skipif(
    not QEMU_READY, reason="needs root, qemu-user-static and g++-aarch64-linux-gnu (make setup installs them)")


def fake_tool(directory: Path, name: str, exit_code: int) -> Path:
    """Write an executable `name` that appends its arguments to `name`.log and exits with `exit_code`."""
    path = directory / name
    path.write_text(f'#!/bin/sh\necho "$@" >> "{directory / name}.log"\nexit {exit_code}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_pins_shared_by_dockerfile_and_sysroot():
    dockerfile = (REPOSITORY / "Dockerfile").read_text()
    assert "COPY pipeline/device-requirements.txt /opt/edgepipe/device-requirements.txt" in dockerfile
    assert "-r /opt/edgepipe/device-requirements.txt" in dockerfile
    assert "==" not in dockerfile  # every version comes from the pins file
    assert emulation.PINS_FILE == REPOSITORY / "pipeline" / "device-requirements.txt"
    pins = read_pins()
    assert "ai-edge-litert==2.3.0" in pins
    assert "executorch==1.5.1" in pins
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", pin) for pin in pins)


def test_pins_match_host_runtimes():
    from importlib.metadata import version

    pins = dict(pin.split("==") for pin in read_pins())
    for package in ("ai-edge-litert", "executorch"):
        assert pins[package] == version(package)


def test_dockerfile_builds_runner_with_shared_script():
    dockerfile = (REPOSITORY / "Dockerfile").read_text()
    assert "build-pte-runner.sh" in dockerfile
    assert "--platform=linux/arm64" in dockerfile
    assert "COPY pipeline/runner.py /opt/edgepipe/runner.py" in dockerfile


def test_sysroot_key_changes_with_pins(tmp_path, monkeypatch):
    before = sysroot_key()
    pins = tmp_path / "pins.txt"
    pins.write_text(emulation.PINS_FILE.read_text().replace("numpy==2.4.6", "numpy==2.4.5"))
    monkeypatch.setattr(emulation, "PINS_FILE", pins)
    assert sysroot_key() != before


def test_cpuinfo_text_cortex_a72():
    text = cpuinfo_text("cortex-a72", 4)
    assert text.count("processor\t:") == 4
    assert text.count("CPU part\t: 0xd08") == 4
    assert "CPU implementer\t: 0x41" in text


def test_cpuinfo_text_unknown_cpu_raises():
    with pytest.raises(ConfigError, match="cortex-a72"):
        cpuinfo_text("pentium", 1)


def test_qemu_command_binds_cpuinfo(tmp_path):
    command = qemu_command(tmp_path / "root", "cortex-a53", tmp_path / "cpuinfo", ["runner.py", "a", "b"])
    separator = command.index("--")
    assert command[0] == "unshare"
    assert "--mount" in command[:separator]
    assert command[separator + 1:separator + 3] == ["sh", "-c"]
    assert "mount --bind" in command[separator + 3]
    assert command[separator + 5] == str(tmp_path / "cpuinfo")
    assert command[separator + 6:separator + 11] == [
        "qemu-aarch64-static", "-cpu", "cortex-a53", "-L", str(tmp_path / "root")]
    assert command[-4:] == ["-s", "runner.py", "a", "b"]


def test_docker_commands_exact(tmp_path):
    tag = docker_image_tag()
    assert docker_build_command(REPOSITORY) == [
        "docker", "build", "--platform", "linux/arm64", "--tag", tag,
        "--file", str(REPOSITORY / "Dockerfile"), str(REPOSITORY)]
    assert docker_run_command(tmp_path / "art", tmp_path / "io", tmp_path / "cpuinfo", "tflite") == [
        "docker", "run", "--rm", "--platform", "linux/arm64", "--network", "none",
        "--volume", f"{tmp_path / 'art'}:/artifact:ro",
        "--volume", f"{tmp_path / 'io'}:/io",
        "--volume", f"{tmp_path / 'cpuinfo'}:/proc/cpuinfo:ro",
        tag, "python3", "/opt/edgepipe/runner.py", "/artifact", "tflite", "/io/images.npy", "/io/result.json"]


def test_choose_engine_auto_follows_docker_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    fake_tool(tmp_path, "docker", 1)  # a client whose engine does not respond
    assert choose_engine("auto") == "qemu"
    fake_tool(tmp_path, "docker", 0)
    assert choose_engine("auto") == "docker"
    assert choose_engine("qemu") == "qemu"


def test_choose_engine_unknown_raises():
    with pytest.raises(ConfigError, match="unknown engine 'vm'; choose one of: auto, qemu, docker"):
        choose_engine("vm")


def test_emulate_missing_qemu_explains(finished_run, monkeypatch):
    _, out, _ = finished_run
    real_which = shutil.which
    monkeypatch.setattr(emulation.shutil, "which", lambda name: None if "qemu" in name else real_which(name))
    images = np.zeros((2, 1, 28, 28), dtype=np.uint8)

    record = emulate_or_explain(out, "tflite", load_target("rpi4"), images, np.zeros(2), "qemu")
    assert record.ran is False
    assert "apt-get install qemu-user-static" in record.reason
    assert "--engine docker" in record.reason
    assert record.top1_agreement is None


def test_emulate_docker_calls_engine_with_built_commands(finished_run, tmp_path, monkeypatch):
    _, out, _ = finished_run
    tools = tmp_path / "bin"
    tools.mkdir()
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    fake_tool(tools, "docker", 1)  # no image yet, and every command fails as it would without an engine
    images = np.zeros((2, 1, 28, 28), dtype=np.uint8)

    with pytest.raises(EmulationError, match="building the arm64 runner image failed.*or use --engine qemu"):
        emulate(out, "tflite", load_target("rpi4"), images, np.zeros(2), "docker")
    calls = (tools / "docker.log").read_text().splitlines()
    assert calls[0] == f"image inspect {docker_image_tag()}"
    assert calls[1] == " ".join(docker_build_command(REPOSITORY)[1:])


@requires_qemu
@pytest.mark.parametrize("target", ["rpi4", "rpi3"])
@pytest.mark.parametrize("artifact_format", ["pte", "tflite"])
def test_emulate_qemu_agrees_with_host(finished_run, target, artifact_format):
    _, out, _ = finished_run
    test = load_dataset().test.head(200)
    record = emulate(out, artifact_format, load_target(target), test.images.numpy(), test.labels.numpy(), "qemu")

    assert record.ran
    assert record.engine == "qemu"
    assert record.samples == 200
    assert record.top1_agreement >= 0.99
    assert record.max_abs_diff <= 1e-3
    assert 0 <= record.accuracy <= 1


@requires_qemu
def test_emulate_artifact_updates_report(finished_run, tmp_path):
    _, out, _ = finished_run
    copy = tmp_path / "artifacts"
    shutil.copytree(out, copy)
    records = emulate_artifact(copy / "model.tflite", target="rpi3", samples=50, engine="qemu")

    report = json.loads((copy / "report.json").read_text())
    keys = [(r["format"], r["target"]) for r in report["emulation"]]
    assert [(r.format, r.target) for r in records] == [("tflite", "rpi3")]
    assert keys == [("pte", "rpi4"), ("tflite", "rpi4"), ("tflite", "rpi3")]
    assert report["artifacts"]  # the rest of the report is kept


def test_emulate_artifact_rejects_non_artifact(tmp_path):
    with pytest.raises(ConfigError, match="manifest.json is missing"):
        emulate_artifact(tmp_path)


def test_runner_script_is_self_contained(finished_run, tmp_path):
    _, out, _ = finished_run
    # Run the runner from a copy, in a fresh interpreter that cannot import edgepipe.
    shutil.copy(REPOSITORY / "pipeline" / "runner.py", tmp_path / "runner.py")
    images = load_dataset().test.images[:20].numpy()
    np.save(tmp_path / "images.npy", images)
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run([sys.executable, "-I", str(tmp_path / "runner.py"), str(out), "tflite",
                                str(tmp_path / "images.npy"), str(tmp_path / "result.json")],
                               cwd=tmp_path, capture_output=True, text=True, env=environment)
    assert completed.returncode == 0, completed.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["samples"] == 20
    assert len(result["top1"]) == 20
    assert result["runtime"].startswith("ai-edge-litert")


@requires_qemu
def test_build_sysroot_bad_pin_explains(tmp_path, monkeypatch):
    pins = tmp_path / "pins.txt"
    pins.write_text("ai-edge-litert==0.0.1\n")  # a version that PyPI does not have
    monkeypatch.setattr(emulation, "PINS_FILE", pins)

    with pytest.raises(EmulationError) as raised:
        emulation.build_sysroot(tmp_path / "cache")
    message = str(raised.value)
    assert message.startswith("downloading the aarch64 wheels failed")
    assert "--engine docker" in message
    assert "\n" not in message
    assert not list((tmp_path / "cache").glob("sysroot-*"))  # nothing half-built is left as the cache


def test_emulate_docker_missing_explains(finished_run, monkeypatch):
    _, out, _ = finished_run
    real_which = shutil.which
    monkeypatch.setattr(emulation.shutil, "which", lambda name: None if name == "docker" else real_which(name))
    images = np.zeros((2, 1, 28, 28), dtype=np.uint8)

    record = emulate_or_explain(out, "tflite", load_target("rpi4"), images, np.zeros(2), "docker")
    assert record.ran is False
    assert record.reason.startswith("docker not found")
    assert "--engine qemu" in record.reason


def test_choose_engine_auto_needs_dockerfile(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    fake_tool(tmp_path, "docker", 0)
    monkeypatch.setattr(emulation, "docker_context", lambda: None)  # an installed copy, not a checkout
    assert choose_engine("auto") == "qemu"


def test_emulate_artifact_missing_file_raises(finished_run):
    _, out, _ = finished_run
    with pytest.raises(ConfigError, match="nothere.pte does not exist"):
        emulate_artifact(out / "nothere.pte")


@pytest.mark.parametrize("text", ["{}", "not json", '{"artifacts": {"pte": {}}}'])
def test_emulate_artifact_malformed_manifest_raises(tmp_path, text):
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ConfigError, match="manifest.json is malformed"):
        emulate_artifact(tmp_path)


def test_emulate_artifact_image_shape_mismatch_raises(finished_run, tiny_idx_dir):
    from conftest import write_idx

    _, out, _ = finished_run
    write_idx(tiny_idx_dir / "t10k-images-idx3-ubyte", np.zeros((100, 28, 20), dtype=np.uint8))
    with pytest.raises(ConfigError, match=r"takes images of shape \[1, 28, 28\].*\[1, 28, 20\]"):
        emulate_artifact(out, samples=10, data=str(tiny_idx_dir))


def test_emulate_artifact_unknown_engine_raises_first(tmp_path):
    with pytest.raises(ConfigError, match="unknown engine 'podman'"):
        emulate_artifact(tmp_path, engine="podman")


def test_runner_script_bad_images_one_line(finished_run, tmp_path):
    _, out, _ = finished_run
    np.save(tmp_path / "images.npy", np.zeros((3, 1, 20, 20), dtype=np.uint8))
    completed = subprocess.run([sys.executable, str(REPOSITORY / "pipeline" / "runner.py"), str(out), "tflite",
                                str(tmp_path / "images.npy"), str(tmp_path / "result.json")],
                               capture_output=True, text=True)
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert lines[-1].startswith("runner: error: ValueError")
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "result.json").exists()
