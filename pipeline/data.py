"""Read IDX image data sets (Fashion-MNIST, MNIST) and split them for training.

An IDX file is two zero bytes, a type code, the number of dimensions, each size as a big-endian
uint32, then the data in row-major order.
"""

import gzip
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgepipe.errors import DataError

logger = logging.getLogger(__name__)

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_LABELS = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
VALIDATION_SIZE = 5000

# IDX type codes from the format's third header byte.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_SPLIT_STEMS = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class Split:
    """Images as uint8 (count, 1, height, width) and labels as int64 (count,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, count: int | None) -> "Split":
        """Return the first `count` examples, or all of them when `count` is None."""
        if count is None:
            return self
        return Split(self.images[:count], self.labels[:count])


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits with the normalization of the training split."""

    name: str
    train: Split
    validation: Split
    test: Split
    labels: list[str]
    mean: float
    std: float

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Map uint8 pixels to the float input of the model: (pixel/255 - mean)/std."""
        return (images.float() / 255.0 - self.mean) / self.std


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file, gzip-compressed or plain."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"cannot read IDX file {path}: {error}; replace it with an intact copy") from error

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file: its header is {raw[:4].hex() or 'empty'}")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))

    expected_size = header_size + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected_size:
        raise DataError(f"{path} is truncated or padded: header shape {shape} needs {expected_size} bytes, "
                        f"the file has {len(raw)}")
    return np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)


def _find_split_file(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (directory / name).is_file():
            return directory / name
    raise DataError(f"{directory} has no {stem}[.gz]; pass --data with a directory containing the four IDX files "
                    f"{', '.join(s + '[.gz]' for s in _SPLIT_STEMS.values())}")


def resolve_data_dir(data: str) -> Path:
    """Turn the --data value into a directory: `fashion-mnist` names the Debian package's files."""
    if data == "fashion-mnist":
        if not FASHION_MNIST_DIR.is_dir():
            raise DataError(f"Fashion-MNIST is not installed at {FASHION_MNIST_DIR}; install it with "
                            f"`apt-get install {FASHION_MNIST_PACKAGE}` (as root), or pass --data DIR "
                            f"with a directory of IDX files")
        return FASHION_MNIST_DIR
    directory = Path(data).expanduser()
    if not directory.is_dir():
        raise DataError(f"--data {data!r} is neither `fashion-mnist` nor an existing directory; "
                        f"pass a directory of IDX files")
    return directory


def _read_images_and_labels(directory: Path, prefix: str) -> Split:
    images = read_idx(_find_split_file(directory, _SPLIT_STEMS[f"{prefix}_images"]))
    labels = read_idx(_find_split_file(directory, _SPLIT_STEMS[f"{prefix}_labels"]))
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{prefix} images in {directory} must be uint8 of shape (count, height, width), "
                        f"got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{prefix} labels in {directory} must be one per image: "
                        f"{len(images)} images, labels of shape {labels.shape}")
    if len(images) == 0:
        raise DataError(f"{prefix} split in {directory} has no images; pass --data with a complete data set")
    if labels.dtype.kind not in "iu" or labels.min() < 0:
        raise DataError(f"{prefix} labels in {directory} must be class indices 0, 1, 2, ..., "
                        f"got {labels.dtype} values from {labels.min()} to {labels.max()}")
    return Split(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))


def load_dataset(data: str = "fashion-mnist", validation_size: int = VALIDATION_SIZE, seed: int = 0) -> Dataset:
    """Load an IDX data set and hold out `validation_size` random training images for validation."""
    directory = resolve_data_dir(data)
    train = _read_images_and_labels(directory, "train")
    test = _read_images_and_labels(directory, "test")

    if not 0 <= validation_size < len(train):
        raise DataError(f"{directory} has {len(train)} training images, too few to hold out {validation_size} "
                        f"for validation; pass --data with a larger data set")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    validation_index, train_index = order[:validation_size], order[validation_size:]
    validation = Split(train.images[validation_index], train.labels[validation_index])
    train = Split(train.images[train_index], train.labels[train_index])

    # Statistics of the training split only, so that no validation or test pixel leaks into the model.
    pixels = train.images.float() / 255.0
    mean, std = pixels.mean().item(), pixels.std().item()
    if not std > 0:
        raise DataError(f"every training image in {directory} has the same pixel value, so they cannot be "
                        f"normalized; pass --data with real images")

    class_count = int(max(train.labels.max(), test.labels.max())) + 1
    is_fashion = data == "fashion-mnist" or "fashion" in directory.name.lower()
    labels = FASHION_MNIST_LABELS if is_fashion and class_count == 10 else [str(i) for i in range(class_count)]
    logger.info("loaded %s: %d train, %d validation, %d test images of %s, mean %.4f std %.4f",
                directory, len(train), len(validation), len(test), tuple(train.images.shape[1:]), mean, std)
    return Dataset(directory.name, train, validation, test, labels, mean, std)
