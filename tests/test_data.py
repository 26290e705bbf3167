import gzip

import numpy as np
import pytest
import torch

from edgepipe.errors import DataError
from edgepipe.pipeline import data
from edgepipe.pipeline.data import load_dataset, read_idx

from conftest import requires_fashion_mnist, write_idx


def test_read_idx_gzip_and_plain(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", array, compress=True)
    write_idx(tmp_path / "b", array, compress=False)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), array)
    assert np.array_equal(read_idx(tmp_path / "b"), array)


def test_read_idx_bad_header_raises(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(path)


def test_read_idx_truncated_raises(tmp_path):
    path = tmp_path / "short"
    write_idx(path, np.zeros((4, 4), dtype=np.uint8), compress=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_read_idx_corrupt_gzip_raises(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abcde")[:-6])
    with pytest.raises(DataError):
        read_idx(path)


def test_load_dataset_splits_and_normalization(tiny_idx_dir):
    dataset = load_dataset(str(tiny_idx_dir), validation_size=100, seed=0)

    assert (len(dataset.train), len(dataset.validation), len(dataset.test)) == (500, 100, 100)
    assert dataset.train.images.shape == (500, 1, 28, 28)
    assert dataset.train.images.dtype == torch.uint8
    pixels = dataset.train.images.float() / 255
    assert dataset.mean == pytest.approx(pixels.mean().item())
    assert dataset.std == pytest.approx(pixels.std().item())
    assert dataset.labels == [str(i) for i in range(10)]
    normalized = dataset.normalize(dataset.train.images)
    assert normalized.mean().item() == pytest.approx(0, abs=1e-4)


def test_load_dataset_validation_disjoint_and_seeded(tiny_idx_dir):
    first = load_dataset(str(tiny_idx_dir), validation_size=100, seed=1)
    again = load_dataset(str(tiny_idx_dir), validation_size=100, seed=1)
    assert torch.equal(first.validation.images, again.validation.images)
    # Each image is random, so no validation image should also be a training image.
    train_rows = {bytes(row) for row in first.train.images.flatten(1).numpy()}
    assert not any(bytes(row) in train_rows for row in first.validation.images.flatten(1).numpy())


def test_load_dataset_missing_file_names_fix(tiny_idx_dir):
    (tiny_idx_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*--data"):
        load_dataset(str(tiny_idx_dir))


def test_load_dataset_missing_directory_raises(tmp_path):
    with pytest.raises(DataError, match="neither `fashion-mnist` nor an existing directory"):
        load_dataset(str(tmp_path / "nowhere"))


def test_load_dataset_fashion_mnist_missing_names_package(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist.*--data"):
        load_dataset("fashion-mnist")


@requires_fashion_mnist
def test_load_dataset_fashion_mnist_sizes():
    dataset = load_dataset("fashion-mnist")
    assert (len(dataset.train), len(dataset.validation), len(dataset.test)) == (55_000, 5_000, 10_000)
    assert dataset.labels[0] == "T-shirt/top"
    assert dataset.labels[9] == "Ankle boot"


def test_load_dataset_float_labels_raise(tiny_idx_dir):
    # IDX type 0x0D is float32; class labels must be integers.
    header = bytes([0, 0, 0x0D, 1]) + (600).to_bytes(4, "big")
    payload = header + np.full(600, 1.5, dtype=">f4").tobytes()
    (tiny_idx_dir / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(payload))
    with pytest.raises(DataError, match="must be class indices"):
        load_dataset(str(tiny_idx_dir), validation_size=100)


def test_load_dataset_negative_labels_raise(tiny_idx_dir):
    header = bytes([0, 0, 0x09, 1]) + (100).to_bytes(4, "big")
    (tiny_idx_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + np.full(100, -1, np.int8).tobytes()))
    with pytest.raises(DataError, match="from -1 to -1"):
        load_dataset(str(tiny_idx_dir), validation_size=100)


def test_load_dataset_empty_test_split_raises(tiny_idx_dir):
    write_idx(tiny_idx_dir / "t10k-images-idx3-ubyte", np.zeros((0, 28, 28), dtype=np.uint8))
    write_idx(tiny_idx_dir / "t10k-labels-idx1-ubyte", np.zeros(0, dtype=np.uint8))
    with pytest.raises(DataError, match="test split .* has no images"):
        load_dataset(str(tiny_idx_dir), validation_size=100)


def test_load_dataset_constant_images_raise(tiny_idx_dir):
    write_idx(tiny_idx_dir / "train-images-idx3-ubyte", np.zeros((600, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match="same pixel value"):
        load_dataset(str(tiny_idx_dir), validation_size=100)


def test_read_idx_corrupt_deflate_raises(tmp_path):
    compressed = bytearray(gzip.compress(bytes(range(256)) * 64))
    compressed[12:20] = b"\xff" * 8  # damage the deflate stream, not the gzip header
    path = tmp_path / "damaged.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(DataError, match="intact copy"):
        read_idx(path)
