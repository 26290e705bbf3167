"""Run an exported artifact from its manifest.json alone, in its own runtime.

This module needs only numpy and the runtime itself, so it can be copied to a device without the
rest of edgepipe. A .tflite file runs in ai-edge-litert or, where only that is installed, in
tflite-runtime. A .pte file runs in ExecuTorch's Python runtime, or, where that is missing (its
bindings need libtorch), in the native `edgepipe-pte-runner` built from native/pte_runner.cpp.
"""

import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# The native .pte runner's path, and a command prefix to start it with, such as a qemu invocation.
NATIVE_RUNNER_ENV = "EDGEPIPE_PTE_RUNNER"
NATIVE_PREFIX_ENV = "EDGEPIPE_PTE_RUNNER_PREFIX"


class RuntimeMissingError(ImportError):
    """The runtime an artifact needs is not installed."""


def load_manifest(directory: str | Path) -> dict:
    """Read `manifest.json` from an artifact directory."""
    with open(Path(directory) / MANIFEST, encoding="utf-8") as stream:
        return json.load(stream)


def encode_input(images: np.ndarray, spec: dict, mean: float, std: float) -> np.ndarray:
    """Turn uint8 images (count, channels, height, width) into one artifact input tensor.

    The float input is (pixel/255 - mean)/std. An int8 or uint8 input is that value quantized with the
    input's scale and zero point. An NHWC input gets its channels moved last.
    """
    x = (images.astype(np.float32) / 255.0 - mean) / std
    if spec.get("layout") == "NHWC":
        x = x.transpose(0, 2, 3, 1)
    dtype = np.dtype(spec["dtype"])
    if dtype.kind in "iu":
        quantization = spec["quantization"]
        info = np.iinfo(dtype)
        x = np.round(x / quantization["scale"]) + quantization["zero_point"]
        x = np.clip(x, info.min, info.max)
    return np.ascontiguousarray(x.reshape(spec["shape"]).astype(dtype))


def decode_output(raw: np.ndarray, spec: dict) -> np.ndarray:
    """Dequantize an int8 or uint8 output with its scale and zero point; pass a float one through."""
    raw = np.asarray(raw)
    if raw.dtype.kind in "iu" and spec.get("quantization"):
        quantization = spec["quantization"]
        return (raw.astype(np.float32) - quantization["zero_point"]) * quantization["scale"]
    return raw.astype(np.float32)


def _load_tflite_interpreter(path: Path, threads: int | None):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as error:
            raise RuntimeMissingError("running a .tflite file needs ai-edge-litert (`pip install ai-edge-litert`) "
                                      "or tflite-runtime") from error
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


class TFLiteModel:
    """A .tflite file in the LiteRT interpreter, called with one input batch at a time."""

    def __init__(self, path: Path, threads: int | None = None):
        self.interpreter = _load_tflite_interpreter(path, threads)
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index).copy()


class ExecuTorchModel:
    """A .pte file in the ExecuTorch Python runtime, called with one input batch at a time."""

    def __init__(self, path: Path):
        try:
            from executorch.runtime import Runtime
        except ImportError as error:
            raise RuntimeMissingError("running a .pte file needs ExecuTorch (`pip install executorch`)") from error
        import torch  # ExecuTorch's Python bindings take and return torch tensors

        self._torch = torch
        self.method = Runtime.get().load_program(Path(path)).load_method("forward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        (output,) = self.method.execute([self._torch.from_numpy(x)])
        return output.numpy().copy()

    def run_all(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return [self(x) for x in inputs]


class NativeExecuTorchModel:
    """A .pte file run by the native `edgepipe-pte-runner` binary, one process for all inputs."""

    def __init__(self, path: Path, runner: str, prefix: list[str], output_shape: list[int]):
        self.path, self.runner, self.prefix, self.output_shape = path, runner, prefix, output_shape

    def run_all(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="edgepipe-pte-") as scratch:
            inputs_path, outputs_path = Path(scratch) / "inputs.bin", Path(scratch) / "outputs.bin"
            np.concatenate([x.ravel() for x in inputs]).tofile(inputs_path)
            command = [*self.prefix, self.runner, str(self.path), str(inputs_path), str(outputs_path)]
            completed = subprocess.run(command, capture_output=True, text=True)
            if completed.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed with exit code {completed.returncode}: "
                                   f"{completed.stderr.strip()[-2000:]}")
            outputs = np.fromfile(outputs_path, dtype=np.float32)
        return list(outputs.reshape(len(inputs), *self.output_shape))


def _run_all(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    if hasattr(model, "run_all"):
        return model.run_all(inputs)
    return [model(x) for x in inputs]


def open_artifact(directory: str | Path, artifact_format: str, manifest: dict | None = None):
    """Load the artifact `artifact_format` ("pte" or "tflite") listed in a directory's manifest.

    For a .pte file, the native runner named by $EDGEPIPE_PTE_RUNNER is used when it is set, and
    ExecuTorch's Python runtime otherwise.
    """
    manifest = load_manifest(directory) if manifest is None else manifest
    entry = manifest["artifacts"][artifact_format]
    path = Path(directory) / entry["file"]
    if artifact_format == "tflite":
        return TFLiteModel(path)
    if artifact_format == "pte":
        native_runner = os.environ.get(NATIVE_RUNNER_ENV)
        if native_runner:
            prefix = shlex.split(os.environ.get(NATIVE_PREFIX_ENV, ""))
            return NativeExecuTorchModel(path, native_runner, prefix, entry["outputs"][0]["shape"])
        return ExecuTorchModel(path)
    raise ValueError(f"unknown artifact format {artifact_format!r}; expected 'pte' or 'tflite'")


def run_artifact(directory: str | Path, artifact_format: str, images: np.ndarray, manifest: dict | None = None,
                 progress=None) -> np.ndarray:
    """Run uint8 images (count, channels, height, width) through an artifact and return float logits.

    The artifact's input batch size is fixed at export, so the images go through in batches of that size.
    """
    manifest = load_manifest(directory) if manifest is None else manifest
    entry = manifest["artifacts"][artifact_format]
    input_spec, output_spec = entry["inputs"][0], entry["outputs"][0]
    mean = manifest["normalization"]["mean"][0]
    std = manifest["normalization"]["std"][0]
    model = open_artifact(directory, artifact_format, manifest)

    batch = input_spec["shape"][0]
    if len(images) % batch:
        raise ValueError(f"{len(images)} images do not divide into batches of {batch}")
    inputs = [encode_input(images[start:start + batch], input_spec, mean, std)
              for start in range(0, len(images), batch)]
    if progress is not None and not isinstance(model, NativeExecuTorchModel):
        raw_outputs = [model(x) for x in progress(inputs, desc=f"evaluate {artifact_format}", total=len(inputs))]
    else:
        raw_outputs = _run_all(model, inputs)
    outputs = [decode_output(raw, output_spec) for raw in raw_outputs]
    return np.concatenate(outputs).reshape(len(images), -1)


def main(argv: list[str] | None = None) -> int:
    """Run one artifact on a file of uint8 images and write its logits as JSON; used on devices and emulators."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("artifact_dir", help="directory with manifest.json and the artifact")
    parser.add_argument("format", choices=["pte", "tflite"], help="which artifact of the manifest to run")
    parser.add_argument("images", help=".npy file of uint8 images, shape (count, channels, height, width)")
    parser.add_argument("output", help="JSON file to write: logits, per-image top-1 and the runtime used")
    args = parser.parse_args(argv)

    try:
        images = np.load(args.images)
        if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
            parser.error(f"{args.images} must contain uint8 images of shape (count, channels, height, width) "
                         f"with count >= 1, got {images.dtype} {images.shape}")
        start = time.perf_counter()
        logits = run_artifact(args.artifact_dir, args.format, images)
        seconds = time.perf_counter() - start
    except (OSError, ValueError, KeyError, ImportError, RuntimeError) as error:
        # One line, as a device log or an emulation engine reports it back.
        print(f"runner: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    result = {
        "format": args.format,
        "samples": len(images),
        "logits": logits.tolist(),
        "top1": logits.argmax(1).tolist(),
        "runtime": _runtime_name(args.format),
        "seconds": seconds,
    }
    try:
        with open(args.output, "w", encoding="utf-8") as stream:
            json.dump(result, stream)
    except OSError as error:
        print(f"runner: error: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


def _runtime_name(artifact_format: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    packages = ("executorch",) if artifact_format == "pte" else ("ai-edge-litert", "tflite-runtime")
    for package in packages:
        try:
            name = f"{package} {version(package)}"
        except PackageNotFoundError:
            continue
        if artifact_format == "pte" and os.environ.get(NATIVE_RUNNER_ENV):
            name = f"edgepipe-pte-runner on {name}"
        return name
    return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
