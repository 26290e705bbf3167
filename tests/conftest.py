"""Shared fixtures: small IDX data sets written by the tests, and the installed Fashion-MNIST."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from edgepipe.pipeline.data import FASHION_MNIST_DIR


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """Write `array` (uint8) as an IDX file, gzip-compressed when `compress`."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


@pytest.fixture
def tiny_idx_dir(tmp_path: Path) -> Path:
    """A directory with a 10-class IDX data set: 600 train and 100 test random 28x28 images."""
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 600), ("t10k", 100)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(count) % 10)
    return tmp_path


requires_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST_DIR.is_dir(),
    reason=f"needs Fashion-MNIST at {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)")


QUICK_RUNS = {"mlp-2MB": ("mlp", 2_000_000), "cnn-150kB": ("cnn", 150_000)}


@pytest.fixture(scope="session", params=list(QUICK_RUNS))
def finished_run(request, tmp_path_factory):
    """A whole `edgepipe run` on 512 training images for one epoch, emulation on rpi4 included."""
    from edgepipe.pipeline.run import RunConfig, run
    from edgepipe.pipeline.train import TrainConfig

    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip(f"needs Fashion-MNIST at {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)")
    model, budget = QUICK_RUNS[request.param]
    out = tmp_path_factory.mktemp(request.param) / "artifacts"
    config = RunConfig(model=model, budget_bytes=budget, train=TrainConfig(epochs=1, batch_size=64),
                       train_limit=512, eval_limit=200, calibration_size=64, samples=100, engine="qemu")
    return config, out, run(config, out)
