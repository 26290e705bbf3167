"""Time `edgepipe emulate` of one artifact, cold (sysroot built from nothing) and warm (sysroot cached).

Usage: python benchmarks/emulation.py ARTIFACT_DIR [--samples 1000] [--target rpi4]

The cold run uses an empty cache directory, so it includes downloading the arm64 Debian packages and
aarch64 wheels and cross-compiling the native .pte runner. These are wall-clock times of the host's
emulation work, not device timings.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time


def time_emulate(artifact: str, artifact_format: str, target: str, samples: int, cache: str) -> float:
    environment = dict(os.environ, XDG_CACHE_HOME=cache)
    command = [sys.executable, "-m", "edgepipe", "emulate", os.path.join(artifact, f"model.{artifact_format}"),
               "--target", target, "--samples", str(samples), "--engine", "qemu"]
    start = time.perf_counter()
    subprocess.run(command, env=environment, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", help="directory written by `edgepipe run`")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--target", default="rpi4")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="edgepipe-bench-cache-") as cache:
        cold = time_emulate(args.artifact, "tflite", args.target, args.samples, cache)
        print(f"cold  tflite  {args.samples} images  {cold:6.1f} s  (includes building the sysroot)")
        for artifact_format in ("tflite", "pte"):
            warm = time_emulate(args.artifact, artifact_format, args.target, args.samples, cache)
            print(f"warm  {artifact_format:<6}  {args.samples} images  {warm:6.1f} s")


if __name__ == "__main__":
    main()
