"""`edgepipe emulate`: check an existing artifact directory under emulation and record the result."""

import json
import logging
import os
import tempfile
from pathlib import Path

from edgepipe.errors import ConfigError
from edgepipe.pipeline.data import load_dataset
from edgepipe.pipeline.emulate import ENGINES, EmulationRecord, emulate
from edgepipe.pipeline.output import REPORT
from edgepipe.pipeline.runner import MANIFEST, load_manifest
from edgepipe.targets import load_target

logger = logging.getLogger(__name__)


def _resolve(artifact: Path) -> tuple[Path, list[str], dict]:
    if not artifact.exists():
        raise ConfigError(f"{artifact} does not exist; pass a directory that `edgepipe run` wrote, or a file in it")
    directory = artifact if artifact.is_dir() else artifact.parent
    if not (directory / MANIFEST).is_file():
        raise ConfigError(f"{artifact} is not an edgepipe artifact: {directory / MANIFEST} is missing; "
                          f"pass the directory that `edgepipe run` wrote")
    try:
        manifest = load_manifest(directory)
        formats = list(manifest["artifacts"])
        for entry in manifest["artifacts"].values():
            entry["inputs"][0]["shape"]
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise ConfigError(f"{directory / MANIFEST} is malformed ({type(error).__name__}: {error}); "
                          f"run `edgepipe run` again to rewrite it") from error
    if artifact.is_file():
        suffix = artifact.suffix.lstrip(".")
        if suffix not in formats:
            raise ConfigError(f"{artifact} is not listed in {directory / MANIFEST}; "
                              f"pass one of: {', '.join(formats)} or the directory")
        formats = [suffix]
    return directory, formats, manifest


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
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    directory, formats, manifest = _resolve(Path(artifact))
    test = load_dataset(data, validation_size=0).test  # only the test split is used
    if samples > len(test):
        raise ConfigError(f"--samples {samples} is more than the {len(test)} test images; pass at most {len(test)}")
    images, labels = test.images[:samples].numpy(), test.labels[:samples].numpy()
    for artifact_format in formats:
        expected = manifest["artifacts"][artifact_format]["inputs"][0]["shape"][1:]
        layout = manifest["artifacts"][artifact_format]["inputs"][0].get("layout")
        image_shape = list(images.shape[1:]) if layout != "NHWC" else [*images.shape[2:], images.shape[1]]
        if image_shape != expected:
            raise ConfigError(f"model.{artifact_format} takes images of shape {expected}, but the test images of "
                              f"--data {data} have shape {image_shape}; pass the --data it was trained on")

    records = [emulate(directory, artifact_format, profile, images, labels, engine) for artifact_format in formats]
    _record_in_report(directory, records)
    return records
