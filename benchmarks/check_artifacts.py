"""Check each artifact of a run from its manifest.json alone: top-1 on the full Fashion-MNIST test set.

Usage: python benchmarks/check_artifacts.py ARTIFACT_DIR [--data /usr/share/datasets/fashion-mnist]

It reads the IDX test files with its own few lines of numpy and runs each file through the
self-contained runner (pipeline/runner.py), loaded by path, so no training or export code of edgepipe
is involved. It prints each artifact's size, whether it is within the run's budget, and its accuracy.
"""

import argparse
import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np

RUNNER = Path(__file__).resolve().parent.parent / "pipeline" / "runner.py"


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(directory: Path, stem: str) -> Path:
    for path in (directory / f"{stem}.gz", directory / stem):
        if path.is_file():
            return path
    raise SystemExit(f"error: {directory} has no {stem}[.gz]; pass --data with the test IDX files")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    args = parser.parse_args()

    spec = importlib.util.spec_from_file_location("standalone_runner", RUNNER)
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)

    images = read_idx(_find(args.data, "t10k-images-idx3-ubyte"))[:, None]
    labels = read_idx(_find(args.data, "t10k-labels-idx1-ubyte"))
    manifest = json.loads((args.artifact / "manifest.json").read_text())
    budget = json.loads((args.artifact / "report.json").read_text())["budget_bytes"]
    for artifact_format, entry in manifest["artifacts"].items():
        size = (args.artifact / entry["file"]).stat().st_size
        logits = runner.run_artifact(args.artifact, artifact_format, images, manifest)
        accuracy = float((logits.argmax(1) == labels).mean())
        print(f"{entry['file']:<14} {size:>10,} bytes  within {budget:,}: {size <= budget}  "
              f"top-1 {100 * accuracy:.2f}% on {len(labels):,} test images")


if __name__ == "__main__":
    main()
