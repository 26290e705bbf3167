"""Registry of the models edgepipe can train; look them up by name with `create_model`."""

from collections.abc import Callable

from torch import nn

from edgepipe.errors import ConfigError
from edgepipe.models.cnn import VGG
from edgepipe.models.mlp import MLP

DEFAULT_MODEL = "mlp"

# Each builder takes the image shape (channels, height, width) and the number of classes.
_REGISTRY: dict[str, tuple[str, Callable[[tuple[int, int, int], int], nn.Module]]] = {
    "mlp": ("MLP 784-1024-1024-1024-10, 2.9 M weights (int8 over 2 MB)",
            lambda shape, classes: MLP(shape[0] * shape[1] * shape[2], (1024, 1024, 1024), classes)),
    "mlp-small": ("MLP 784-512-512-512-10, 0.93 M weights",
                  lambda shape, classes: MLP(shape[0] * shape[1] * shape[2], (512, 512, 512), classes)),
    "cnn": ("VGG-style CNN, 3x3 convs of 32-32/64-64/128-128 channels, Linear 256, 0.58 M weights",
            lambda shape, classes: VGG(shape[0], ((32, 32), (64, 64), (128, 128)), 256, classes, shape[1:])),
}


def list_models() -> dict[str, str]:
    """Return each registered model name with a one-line description."""
    return {name: description for name, (description, _) in _REGISTRY.items()}


def create_model(name: str, image_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10) -> nn.Module:
    """Build the registered model `name` for images of `image_shape` (channels, height, width)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(_REGISTRY)}")
    _, build = _REGISTRY[name]
    return build(image_shape, num_classes)


__all__ = ["DEFAULT_MODEL", "create_model", "list_models"]
