"""Low-Rank Induced Training (LoRITa): train each weight as a product of factors, then collapse it.

Zhang, Alkhouri, Wang, "Low-Rank Induced Training", TMLR; arXiv 2405.03089. A weight trained as a
product of N factors, with no nonlinearity between them and ordinary L2 weight decay on each factor,
is pushed towards low rank, because L2 on N factors acts as a Schatten-2/N quasi-norm on the product.

- Linear (out x in): N-1 square (in x in) factors are applied before the layer's own weight.
- Conv2d k x k: the layer's own k x k conv is followed by N-1 square 1x1 channel factors (out x out).

The layer's own weight parameter becomes one of the factors and its bias stays the bias of the
product. `weight` becomes a parametrization that returns the product, so the module tree does not
change.
"""

import logging
import math
from typing import Literal

import torch
from torch import nn
from torch.nn.utils import parametrize

from edgepipe.errors import ConfigError

logger = logging.getLogger(__name__)

Association = Literal["weight", "activation"]
Init = Literal["orthogonal", "identity"]


def _square_factor(size: int, init: Init) -> nn.Parameter:
    # Orthogonal factors keep a new product at the scale of PyTorch's default initialization, and
    # identity factors keep a trained weight exactly.
    if init == "identity":
        return nn.Parameter(torch.eye(size))
    return nn.Parameter(nn.init.orthogonal_(torch.empty(size, size)))


class LinearFactors(nn.Module):
    """Square (in x in) factors applied before a Linear weight; `weight = original @ A_last @ ... @ A_1`."""

    def __init__(self, in_features: int, count: int, init: Init = "orthogonal"):
        super().__init__()
        self.factors = nn.ParameterList(_square_factor(in_features, init) for _ in range(count))
        self.association: Association = "weight"

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        weight = original
        for factor in reversed(self.factors):
            weight = weight @ factor
        return weight

    def apply_to_input(self, x: torch.Tensor) -> torch.Tensor:
        for factor in self.factors:
            x = x @ factor.T
        return x


class ConvFactors(nn.Module):
    """Square (out x out) 1x1 factors after a conv; `weight = B_last @ ... @ B_1 @ original`, flattened."""

    def __init__(self, out_channels: int, count: int, init: Init = "orthogonal"):
        super().__init__()
        self.factors = nn.ParameterList(_square_factor(out_channels, init) for _ in range(count))
        self.association: Association = "weight"

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        flat = original.flatten(1)  # (out, in/groups * kh * kw)
        for factor in self.factors:
            flat = factor @ flat
        return flat.view_as(original)

    def apply_to_output(self, y: torch.Tensor) -> torch.Tensor:
        for factor in self.factors:
            y = torch.einsum("oc,nchw->nohw", factor, y)
        return y


def _factored_linear_forward(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    factors: LinearFactors = module.parametrizations.weight[0]
    return nn.functional.linear(factors.apply_to_input(x), module.parametrizations.weight.original, module.bias)


def _factored_conv_forward(module: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    factors: ConvFactors = module.parametrizations.weight[0]
    y = module._conv_forward(x, module.parametrizations.weight.original, None)
    y = factors.apply_to_output(y)
    if module.bias is not None:
        y = y + module.bias.view(1, -1, 1, 1)
    return y


def step_cost(module: nn.Module, association: Association, factors: int, batch_size: int,
              output_pixels: int = 1) -> int:
    """Estimate the multiply-accumulates of one forward pass of a factored layer over a batch.

    The backward pass costs about twice the forward in both associations, so the forward decides.
    """
    extra = factors - 1
    if isinstance(module, nn.Linear):
        out_features, in_features = module.weight.shape
        layer = batch_size * out_features * in_features
        if association == "weight":
            return extra * out_features * in_features * in_features + layer
        return batch_size * extra * in_features * in_features + layer
    out_channels, fan_in = module.weight.shape[0], module.weight[0].numel()
    layer = batch_size * output_pixels * out_channels * fan_in
    if association == "weight":
        return extra * out_channels * out_channels * fan_in + layer
    return batch_size * output_pixels * extra * out_channels * out_channels + layer


def _should_skip(module: nn.Module) -> str | None:
    if isinstance(module, nn.Conv2d) and module.groups > 1:
        return f"grouped conv (groups={module.groups}) is not factorized"
    return None


def _output_pixels(model: nn.Module, example_input: torch.Tensor) -> dict[str, int]:
    pixels: dict[str, int] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(
                lambda m, args, out, name=name: pixels.__setitem__(name, out.shape[-1] * out.shape[-2])))
    try:
        with torch.no_grad():
            model(example_input[:1])
    finally:
        for hook in hooks:
            hook.remove()
    return pixels


def factorize_(model: nn.Module, factors: int = 3, batch_size: int = 256,
               example_input: torch.Tensor | None = None, init: Init = "orthogonal") -> dict[str, Association]:
    """Turn every Linear and Conv2d weight of `model` into a product of `factors` factors, in place.

    Each layer computes its forward in the cheaper association for `batch_size`: "weight" multiplies
    the factors into one weight once per step, "activation" applies them to the activations. Conv
    layers need `example_input` to know their output size. With `init="identity"` the extra factors
    start as identity matrices, so a trained model's outputs do not change. Returns the association
    of each layer.
    """
    if init not in ("orthogonal", "identity"):
        raise ConfigError(f"init must be 'orthogonal' or 'identity', got {init!r}")
    if factors < 1:
        raise ConfigError(f"factors must be at least 1, got {factors}")
    if factors == 1:
        return {}
    pixels = _output_pixels(model, example_input) if example_input is not None else {}

    associations: dict[str, Association] = {}
    for name, module in list(model.named_modules()):
        if not isinstance(module, (nn.Linear, nn.Conv2d)) or parametrize.is_parametrized(module, "weight"):
            continue
        reason = _should_skip(module)
        if reason:
            logger.debug("not factorizing %s: %s", name, reason)
            continue

        if isinstance(module, nn.Linear):
            parametrization = LinearFactors(module.in_features, factors - 1, init)
        else:
            parametrization = ConvFactors(module.out_channels, factors - 1, init)
        parametrization.to(module.weight.device, module.weight.dtype)
        parametrize.register_parametrization(module, "weight", parametrization)

        costs = {a: step_cost(module, a, factors, batch_size, pixels.get(name, 1))
                 for a in ("weight", "activation")}
        association: Association = min(costs, key=costs.get)
        parametrization.association = association
        if association == "activation":
            forward = _factored_linear_forward if isinstance(module, nn.Linear) else _factored_conv_forward
            module.forward = forward.__get__(module)
        associations[name] = association
        logger.debug("factorized %s into %d factors, association %s (%.1f vs %.1f MMAC per step)",
                     name, factors, association, costs["weight"] / 1e6, costs["activation"] / 1e6)

    logger.info("LoRITa: %d layers trained as products of %d factors", len(associations), factors)
    return associations


def collapse_(model: nn.Module) -> nn.Module:
    """Multiply the factors of every factored layer back into one weight, in place, and return `model`."""
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
            module.__dict__.pop("forward", None)
    return model


def factored_flops_ratio(model: nn.Module, associations: dict[str, Association], factors: int, batch_size: int,
                         example_input: torch.Tensor) -> float:
    """Return the forward multiply-accumulates of the factored layers over those of plain layers."""
    pixels = _output_pixels(model, example_input)
    factored = plain = 0
    for name, module in model.named_modules():
        if name in associations:
            factored += step_cost(module, associations[name], factors, batch_size, pixels.get(name, 1))
            plain += step_cost(module, "weight", 1, batch_size, pixels.get(name, 1))
    return factored / plain if plain else math.nan
