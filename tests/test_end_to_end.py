"""Run the whole pipeline on a few hundred images and check both artifacts in their runtimes."""

import json

import numpy as np
import pytest
import torch

from edgepipe.pipeline.data import load_dataset
from edgepipe.pipeline.runner import load_manifest, run_artifact

from conftest import requires_fashion_mnist

pytestmark = requires_fashion_mnist

MANIFEST_TENSOR_KEYS = {"shape", "dtype", "layout", "quantization"}


def test_run_writes_artifacts_within_budget(finished_run):
    config, out, result = finished_run
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.pte", "model.tflite", "report.json"]
    for artifact_format in ("pte", "tflite"):
        size = (out / f"model.{artifact_format}").stat().st_size
        assert size <= config.budget_bytes
        assert result.export.sizes[artifact_format] == size
    assert not list(out.parent.glob(".*partial*"))


def test_run_truncates_at_least_one_layer(finished_run):
    _, _, result = finished_run
    layers = result.report["layers"]
    assert any(layer["factorized"] for layer in layers)
    for layer in layers:
        assert 1 <= layer["rank"] <= layer["full_rank"]
        if layer["factorized"]:
            out_features, in_features = layer["shape"][0], int(np.prod(layer["shape"][1:]))
            assert layer["rank"] * (out_features + in_features) < out_features * in_features


def test_run_manifest_contract(finished_run):
    _, out, _ = finished_run
    manifest = load_manifest(out)
    assert len(manifest["labels"]) == 10
    assert set(manifest["normalization"]) == {"mean", "std"}
    assert set(manifest["versions"]) >= {"edgepipe", "torch", "executorch", "litert-torch", "ai-edge-litert"}
    for artifact_format in ("pte", "tflite"):
        entry = manifest["artifacts"][artifact_format]
        assert entry["file"] == f"model.{artifact_format}"
        assert len(entry["sha256"]) == 64
        for tensor in entry["inputs"] + entry["outputs"]:
            assert set(tensor) >= MANIFEST_TENSOR_KEYS
    assert manifest["artifacts"]["tflite"]["inputs"][0]["dtype"] == "int8"
    assert manifest["artifacts"]["tflite"]["inputs"][0]["quantization"]["scale"] > 0


def test_run_report_contract(finished_run):
    config, out, result = finished_run
    report = json.loads((out / "report.json").read_text())
    assert report == result.report
    assert report["target"] == "rpi4"
    assert report["budget_bytes"] == config.budget_bytes
    assert report["uncompressed_int8_bytes"] > 0
    assert [a["format"] for a in report["artifacts"]] == ["pte", "tflite"]
    assert set(report["seconds"]) >= {"load", "train", "truncate", "export", "evaluate"}
    for artifact in report["artifacts"]:
        assert 0 <= artifact["accuracy"] <= 1


@pytest.mark.parametrize("artifact_format", ["pte", "tflite"])
def test_artifact_matches_eager_int8(finished_run, artifact_format):
    _, out, result = finished_run
    dataset = load_dataset()
    images = dataset.test.images[:100]
    logits = run_artifact(out, artifact_format, images.numpy())

    eager = result.export.quantized[artifact_format]
    with torch.no_grad():
        expected = torch.cat([eager(dataset.normalize(row)) for row in images.split(1)]).numpy()
    spread = expected.max() - expected.min()
    agreement = (logits.argmax(1) == expected.argmax(1)).mean()
    # The runtimes compute in int8 with their own rounding, the eager model in float between
    # quantize and dequantize steps, so outputs may differ by a few output quantization steps.
    assert np.abs(logits - expected).max() <= 0.05 * spread
    assert agreement >= 0.95


def test_run_accuracy_report_matches_runtime(finished_run):
    _, out, result = finished_run
    dataset = load_dataset()
    test = dataset.test.head(200)
    for artifact in result.report["artifacts"]:
        logits = run_artifact(out, artifact["format"], test.images.numpy())
        assert artifact["accuracy"] == pytest.approx((logits.argmax(1) == test.labels.numpy()).mean())


def test_run_emulation_agrees_with_host(finished_run):
    _, _, result = finished_run
    records = result.report["emulation"]
    assert [(r["format"], r["target"], r["engine"]) for r in records] == [("pte", "rpi4", "qemu"),
                                                                         ("tflite", "rpi4", "qemu")]
    for record in records:
        assert record["ran"], record["reason"]
        assert record["samples"] == 100
        assert record["top1_agreement"] >= 0.99
        assert "seconds" not in record  # emulated time is not device time
