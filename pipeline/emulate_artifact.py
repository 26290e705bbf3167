"""`edgepipe emulate`: check an existing artifact directory under emulation and record the result."""

import json
import logging
import os
import tempfile
from pathlib import Path

from edgepipe.errors import ConfigError
from edgepipe.pipeline.data import load_dataset
from edgepipe.pipeline.emulate import EmulationRecord, emulate
from edgepipe.pipeline.runner import MANIFEST, load_manifest
from edgepipe.targets import load_target

logger = logging.getLogger(__name__)

REPORT = "report.json"


def _resolve(artifact: Path) -> tuple[Path, list[str]]:
    directory = artifact if artifact.is_dir() else artifact.parent
    if not (directory / MANIFEST).is_file():
        raise ConfigError(f"{artifact} is not an edgepipe artifact: {directory / MANIFEST} is missing; "
                          f"pass the directory that `edgepipe run` wrote")
    formats = list(load_manifest(directory)["artifacts"])
    if artifact.is_file():
        suffix = artifact.suffix.lstrip(".")
        if suffix not in formats:
            raise ConfigError(f"{artifact} is not listed in {directory / MANIFEST}; "
                              f"pass one of: {', '.join(formats)} or the directory")
        formats = [suffix]
    return directory, formats


def _record_in_report(directory: Path, records: list[EmulationRecord]) -> None:
    path = directory / REPORT
    report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    replaced = {(r.format, r.target, r.engine) for r in records}
    other_records = [r for r in report.get("emulation", []) if (r["format"], r["target"], r["engine"]) not in replaced]
    report["emulation"] = other_records + [record.to_dict() for record in records]

    # Write beside the report and rename, so an interrupted write never leaves half a report.
    handle, temporary = tempfile.mkstemp(prefix=".report-", suffix=".json", dir=directory)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(report, stream, indent=2)
        stream.write("\n")
    os.replace(temporary, path)


def emulate_artifact(artifact: Path, target: str = "rpi4", samples: int = 1000, engine: str = "auto",
                     data: str = "fashion-mnist") -> list[EmulationRecord]:
    """Emulate each artifact named by `artifact` on `target` and add the records to its report.json."""
    profile = load_target(target)
    directory, formats = _resolve(Path(artifact))
    test = load_dataset(data).test
    if samples > len(test):
        raise ConfigError(f"--samples {samples} is more than the {len(test)} test images; pass at most {len(test)}")
    images, labels = test.images[:samples].numpy(), test.labels[:samples].numpy()

    records = [emulate(directory, artifact_format, profile, images, labels, engine) for artifact_format in formats]
    _record_in_report(directory, records)
    return records
