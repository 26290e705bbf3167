import os
import stat

import pytest

from edgepipe.errors import ConfigError
from edgepipe.pipeline.output import prepare_output


def _artifact_dir(path):
    path.mkdir(parents=True)
    for name in ("manifest.json", "model.pte", "model.tflite", "report.json"):
        (path / name).write_text(name)
    return path


def test_prepare_output_refuses_current_directory(tmp_path, monkeypatch):
    _artifact_dir(tmp_path / "here")
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(ConfigError, match="current directory"):
        prepare_output(tmp_path / "here")
    with pytest.raises(ConfigError, match="current directory"):
        prepare_output(tmp_path)
    assert sorted(os.listdir(tmp_path / "here")) == ["manifest.json", "model.pte", "model.tflite", "report.json"]


def test_prepare_output_refuses_foreign_files(tmp_path):
    out = _artifact_dir(tmp_path / "out")
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match=r"contains files that edgepipe did not write \(precious.txt\)"):
        prepare_output(out)
    assert (out / "precious.txt").read_text() == "keep me"


def test_prepare_output_file_parent_raises(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="cannot create --out .*afile/sub"):
        prepare_output(tmp_path / "afile" / "sub")


def test_publish_replaces_previous_run(tmp_path):
    out = _artifact_dir(tmp_path / "out")
    output = prepare_output(out)
    (output.workdir / "manifest.json").write_text("new")
    output.publish()

    assert (out / "manifest.json").read_text() == "new"
    assert not (out / "model.pte").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_publish_follows_umask(tmp_path):
    output = prepare_output(tmp_path / "out")
    output.publish()
    mode = stat.S_IMODE((tmp_path / "out").stat().st_mode)
    assert mode == 0o777 & ~_umask()


def test_discard_removes_work_and_created_parents(tmp_path):
    output = prepare_output(tmp_path / "a" / "b" / "out")
    output.discard()
    assert list(tmp_path.iterdir()) == []


def test_prepare_output_removes_stale_partials(tmp_path):
    stale = tmp_path / ".out.partial-dead"
    stale.mkdir()
    (stale / ".edgepipe-pid").write_text("999999999")  # no such process
    live = tmp_path / ".out.partial-live"
    live.mkdir()
    (live / ".edgepipe-pid").write_text(str(os.getpid()))

    output = prepare_output(tmp_path / "out")
    assert not stale.exists()
    assert live.exists()
    output.discard()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
