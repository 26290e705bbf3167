"""Registry of the models edgepipe can train; look them up by name with `create_model`."""

from collections.abc import Callable

from torch import nn

from edgepipe.errors import ConfigError
from edgepipe.models.cnn import VGG
from edgepipe.models.mlp import MLP

DEFAULT_MODEL = "mlp"
_VGG_STAGES = ((32, 32), (64, 64), (128, 128))

# Each builder takes the image shape (channels, height, width), the number of classes and a width
# multiplier that scales every hidden layer, for narrower models of the same family.
_REGISTRY: dict[str, tuple[str, Callable[[tuple[int, int, int], int, float], nn.Module]]] = {
    "mlp": ("MLP 784-1024-1024-1024-10, 2.9 M weights (int8 over 2 MB)",
            lambda shape, classes, width: MLP(shape[0] * shape[1] * shape[2], _scale((1024, 1024, 1024), width),
                                              classes)),
    "mlp-small": ("MLP 784-512-512-512-10, 0.93 M weights",
                  lambda shape, classes, width: MLP(shape[0] * shape[1] * shape[2], _scale((512, 512, 512), width),
                                                    classes)),
    "cnn": ("VGG-style CNN, 3x3 convs of 32-32/64-64/128-128 channels, Linear 256, 0.58 M weights",
            lambda shape, classes, width: VGG(shape[0], tuple(_scale(stage, width) for stage in _VGG_STAGES),
                                              _scale((256,), width)[0], classes, shape[1:])),
}


def _scale(widths: tuple[int, ...], factor: float) -> tuple[int, ...]:
    return tuple(max(1, round(w * factor)) for w in widths)


def list_models() -> dict[str, str]:
    """Return each registered model name with a one-line description."""
    return {name: description for name, (description, _) in _REGISTRY.items()}


def create_model(name: str, image_shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10,
                 width: float = 1.0) -> nn.Module:
    """Build the registered model `name` for images of `image_shape` (channels, height, width).

    `width` multiplies every hidden width, so 0.5 gives the same family at half the width.
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(_REGISTRY)}")
    if not width > 0:
        raise ConfigError(f"width must be positive, got {width}")
    _, build = _REGISTRY[name]
    return build(image_shape, num_classes, width)


__all__ = ["DEFAULT_MODEL", "create_model", "list_models"]
