"""Run an exported artifact from its manifest.json alone, in its own runtime.

This module needs only numpy and the runtime itself, so it can be copied to a device without the
rest of edgepipe: .pte files run in ExecuTorch's Python runtime, .tflite files in ai-edge-litert or,
where only that is installed, tflite-runtime.
"""

import json
import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"


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


def open_artifact(directory: str | Path, artifact_format: str, manifest: dict | None = None):
    """Load the artifact `artifact_format` ("pte" or "tflite") listed in a directory's manifest."""
    manifest = load_manifest(directory) if manifest is None else manifest
    entry = manifest["artifacts"][artifact_format]
    path = Path(directory) / entry["file"]
    if artifact_format == "tflite":
        return TFLiteModel(path)
    if artifact_format == "pte":
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
    starts = range(0, len(images), batch)
    if progress is not None:
        starts = progress(starts, desc=f"evaluate {artifact_format}", total=len(images) // batch)
    outputs = [decode_output(model(encode_input(images[start:start + batch], input_spec, mean, std)), output_spec)
               for start in starts]
    return np.concatenate(outputs).reshape(len(images), -1)
