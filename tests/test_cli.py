"""The command line as a user meets it: help, one-line errors, exit codes and nothing half-written."""

import subprocess
import sys

import pytest

from conftest import requires_fashion_mnist


def edgepipe(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgepipe", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_cli_help_lists_every_option():
    result = edgepipe("run", "--help")
    assert result.returncode == 0
    for option in ("--target", "--budget", "--out", "--epochs", "--seed", "--factors", "--model", "--data",
                   "--train-limit", "--eval-limit", "--verbose"):
        assert option in result.stdout


def test_cli_bad_budget_one_line(tmp_path):
    result = edgepipe("run", "--budget", "2XB", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "invalid budget '2XB'", "2MiB")
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_target_lists_known(tmp_path):
    result = edgepipe("run", "--target", "pi5", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "unknown target 'pi5'", "rpi4")
    assert list(tmp_path.iterdir()) == []


def test_cli_missing_data_names_fix(tmp_path):
    result = edgepipe("run", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "--data")
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_model_lists_known(tmp_path, tiny_idx_dir):
    result = edgepipe("run", "--model", "resnet", "--data", str(tiny_idx_dir), "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "unknown model 'resnet'", "mlp")
    assert not (tmp_path / "out").exists()


def test_cli_refuses_foreign_out_directory(tmp_path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    result = edgepipe("run", "--out", str(foreign))
    assert_one_line_error(result, "contains files that edgepipe did not write (cat.jpg)")
    assert [p.name for p in foreign.iterdir()] == ["cat.jpg"]


def test_cli_verbose_shows_traceback(tmp_path):
    result = edgepipe("run", "--budget", "2XB", "--verbose", "--out", str(tmp_path / "out"))
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_cli_targets_and_models_list():
    targets = edgepipe("targets")
    models = edgepipe("models")
    assert targets.returncode == 0
    assert "rpi4: Raspberry Pi 4" in targets.stdout
    assert models.returncode == 0
    assert "mlp:" in models.stdout
    assert "cnn:" in models.stdout


@requires_fashion_mnist
def test_cli_budget_too_small_writes_nothing(tmp_path):
    result = edgepipe("run", "--budget", "10kB", "--epochs", "1", "--train-limit", "256", "--eval-limit", "100",
                      "--out", str(tmp_path / "new" / "parents" / "out"))
    assert_one_line_error(result, "raise --budget")
    assert "epoch" not in result.stderr  # the budget is checked before training
    assert list(tmp_path.iterdir()) == []


def test_cli_version_prints_version():
    from edgepipe import __version__

    result = edgepipe("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == __version__


@pytest.mark.parametrize("arguments, fragment", [
    (["run", "--epochs", "0"], "Invalid value for '--epochs'"),
    (["run", "--epochs", "abc"], "Invalid value for '--epochs'"),
    (["run", "--frobnicate"], "No such option: --frobnicate"),
    (["emulate"], "Missing argument"),
    (["frob"], "No such command 'frob'"),
    (["bench", "compression", "--epochs", "mlp=many"], "mlp=20,cnn=6"),
    (["bench", "compression", "--epochs", "20,6"], "mlp=20,cnn=6"),
])
def test_cli_usage_error_one_line(arguments, fragment):
    result = edgepipe(*arguments)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "--help" in lines[0]


def test_cli_bench_epochs_for_uncompared_model_one_line(tmp_path):
    result = edgepipe("bench", "compression", "--models", "mlp", "--epochs", "cnn=4",
                      "--out", str(tmp_path / "compression.json"))
    assert_one_line_error(result, "['cnn']", "name only compared models")
    assert list(tmp_path.iterdir()) == []
