"""The output directory of a run: written beside it, then swapped in only when the run succeeds."""

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgepipe.errors import ConfigError
from edgepipe.pipeline.runner import MANIFEST

logger = logging.getLogger(__name__)

REPORT = "report.json"
ARTIFACT_FILES = frozenset({MANIFEST, REPORT, "model.pte", "model.tflite"})
_PID_FILE = ".edgepipe-pid"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_partials(out: Path) -> None:
    # A run killed by a signal that Python cannot catch leaves its work directory; its process is gone.
    for partial in out.parent.glob(f".{out.name}.partial-*"):
        pid_file = partial / _PID_FILE
        try:
            pid = int(pid_file.read_text())
        except (OSError, ValueError):
            continue
        if not _process_alive(pid):
            logger.info("removing %s, left by an interrupted run (process %d)", partial, pid)
            shutil.rmtree(partial, ignore_errors=True)


def _check_replaceable(out: Path) -> None:
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents:
        raise ConfigError(f"--out {out} is the current directory or contains it; "
                          f"choose a new directory such as artifacts/NAME")
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory; choose another --out")
    names = {entry.name for entry in out.iterdir()}
    foreign = sorted(names - ARTIFACT_FILES)
    if names and (MANIFEST not in names or foreign):
        listed = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise ConfigError(f"--out {out} contains files that edgepipe did not write ({listed or 'no manifest.json'}); "
                          f"choose another --out or remove them")


@dataclass
class Output:
    """A run's output directory `path`, the work directory beside it, and the parents made for it."""

    path: Path
    workdir: Path
    created: list[Path] = field(default_factory=list)

    def publish(self) -> None:
        """Swap the finished work directory in as `path`; a previous run's directory is removed after."""
        previous = None
        if self.path.exists():
            previous = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
            self.path.rename(previous)
        self.workdir.rename(self.path)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        (self.path / _PID_FILE).unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove the work directory and any parent directories this run created, if still empty."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        for directory in reversed(self.created):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()


def prepare_output(out: Path) -> Output:
    """Check that `out` may be written and make a work directory beside it."""
    out = Path(out).expanduser().resolve()
    _check_replaceable(out)
    created = [parent for parent in reversed(out.parents) if not parent.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(out)
        workdir = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as error:
        Output(out, Path(os.devnull), created).discard()
        raise ConfigError(f"cannot create --out {out}: {error.strerror or error}; "
                          f"choose a writable directory") from error
    # mkdtemp makes the directory private; the published artifacts follow the user's umask instead.
    workdir.chmod(0o777 & ~_umask())
    (workdir / _PID_FILE).write_text(str(os.getpid()))
    return Output(out, workdir, created)
