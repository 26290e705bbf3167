"""Truncate collapsed weights by SVD, with ranks chosen to fit an int8 byte budget.

A weight W (out x in, a conv's flattened to out x in*kh*kw) of rank r is replaced by two layers,
in -> r and r -> out, only where that stores fewer weights: r * (out + in) < out * in.
"""

import heapq
import logging
from dataclasses import asdict, dataclass

import torch
from torch import nn

from edgepipe.errors import BudgetError

logger = logging.getLogger(__name__)

# Bytes beside the int8 weights for each output channel of a quantized layer: a float32 scale, an
# int32 bias and up to 8 bytes of zero point. A conservative estimate that the export loop corrects.
CHANNEL_OVERHEAD_BYTES = 16


@dataclass(frozen=True)
class LayerRank:
    """The rank kept for one layer, and whether it was split into two layers."""

    name: str
    shape: list[int]
    rank: int
    full_rank: int
    factorized: bool

    def to_dict(self) -> dict:
        return asdict(self)


def truncatable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Return the Linear and ungrouped Conv2d layers of `model` by name."""
    layers = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) or (isinstance(module, nn.Conv2d) and module.groups == 1):
            layers[name] = module
        elif isinstance(module, nn.Conv2d):
            logger.debug("not truncating %s: grouped conv (groups=%d)", name, module.groups)
    return layers


def split_saves_bytes(out_features: int, in_features: int, rank: int) -> bool:
    """Return whether two layers of rank `rank` store fewer weights than one dense out x in layer."""
    return rank * (out_features + in_features) < out_features * in_features


def layer_bytes(out_features: int, in_features: int, rank: int) -> int:
    """Estimate the int8 bytes of a layer kept at `rank`: split if that is smaller, dense otherwise."""
    if split_saves_bytes(out_features, in_features, rank):
        return rank * (out_features + in_features) + (rank + out_features) * CHANNEL_OVERHEAD_BYTES
    return out_features * in_features + out_features * CHANNEL_OVERHEAD_BYTES


def int8_weight_bytes(model: nn.Module) -> int:
    """Estimate the int8 bytes of all Linear and Conv2d layers of `model` as they are."""
    total = 0
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            total += module.weight.numel() + module.weight.shape[0] * CHANNEL_OVERHEAD_BYTES
    return total


def minimum_bytes(model: nn.Module) -> int:
    """Estimate the int8 bytes of `model` with every truncatable layer at rank 1."""
    return sum(layer_bytes(*module.weight.flatten(1).shape, 1) for module in truncatable_layers(model).values())


@torch.no_grad()
def singular_values(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return the singular values, largest first, of each truncatable layer's flattened weight."""
    return {name: torch.linalg.svdvals(module.weight.detach().flatten(1).double()).float()
            for name, module in truncatable_layers(model).items()}


def _flat_shapes(model: nn.Module, spectra: dict[str, torch.Tensor]) -> dict[str, tuple[int, int]]:
    layers = truncatable_layers(model)
    return {name: tuple(layers[name].weight.flatten(1).shape) for name in spectra}


def _check_rank_one_fits(shapes: dict[str, tuple[int, int]], budget_bytes: int) -> int:
    spent = sum(layer_bytes(*shape, 1) for shape in shapes.values())
    if spent > budget_bytes:
        raise BudgetError(f"the budget leaves {budget_bytes} bytes for weights, but even rank 1 in every layer "
                          f"needs {spent}; raise --budget or pick a smaller --model")
    return spent


def estimated_bytes(shapes: dict[str, tuple[int, int]], ranks: dict[str, int]) -> int:
    """Estimate the int8 bytes of layers of flattened `shapes` kept at `ranks`."""
    return sum(layer_bytes(*shapes[name], rank) for name, rank in ranks.items())


def choose_ranks(model: nn.Module, budget_bytes: int, spectra: dict[str, torch.Tensor] | None = None,
                 power: float = 2.0) -> dict[str, int]:
    """Choose the rank of each layer so that the estimated int8 weight bytes fit `budget_bytes`.

    Greedy: start every layer at rank 1 and repeatedly add the rank with the most normalized spectral
    energy, sigma_i^power / sum(sigma^power) of its layer, per added byte. Once a split would no longer
    save bytes, the next step takes the layer to full rank and keeps it dense. The default power 2
    is the squared Frobenius norm that each singular value carries.
    """
    spectra = singular_values(model) if spectra is None else spectra
    shapes = _flat_shapes(model, spectra)
    energy = {name: (s.double() ** power) / (s.double() ** power).sum().clamp_min(1e-300)
              for name, s in spectra.items()}
    full_rank = {name: len(s) for name, s in spectra.items()}

    ranks = {name: 1 for name in spectra}
    spent = _check_rank_one_fits(shapes, budget_bytes)

    def next_step(name: str):
        rank = ranks[name]
        if rank >= full_rank[name]:
            return None
        out_features, in_features = shapes[name]
        if split_saves_bytes(out_features, in_features, rank + 1):
            new_rank = rank + 1
            gain = energy[name][rank].item()
        else:
            new_rank = full_rank[name]
            gain = energy[name][rank:].sum().item()
        cost = layer_bytes(out_features, in_features, new_rank) - layer_bytes(out_features, in_features, rank)
        return (-gain / max(cost, 1), name, new_rank, cost)

    heap = [step for step in map(next_step, spectra) if step]
    heapq.heapify(heap)
    while heap:
        _, name, new_rank, cost = heapq.heappop(heap)
        if spent + cost > budget_bytes:
            continue  # this layer's next step does not fit; cheaper steps of other layers may
        ranks[name] = new_rank
        spent += cost
        step = next_step(name)
        if step:
            heapq.heappush(heap, step)

    logger.info("chose ranks for %d layers: %d estimated int8 weight bytes of %d allowed",
                len(ranks), spent, budget_bytes)
    return ranks


def threshold_ranks(model: nn.Module, budget_bytes: int, spectra: dict[str, torch.Tensor] | None = None
                    ) -> dict[str, int]:
    """Choose ranks with one global threshold on normalized singular values, the lowest that fits the budget.

    Each layer keeps the singular values with sigma_i / sigma_1 >= threshold, and at least one. The
    threshold is the smallest that fits.
    """
    spectra = singular_values(model) if spectra is None else spectra
    shapes = _flat_shapes(model, spectra)
    _check_rank_one_fits(shapes, budget_bytes)
    normalized = {name: s / s[0].clamp_min(1e-30) for name, s in spectra.items()}

    def ranks_at(threshold: float) -> dict[str, int]:
        return {name: max(1, int((values >= threshold).sum())) for name, values in normalized.items()}

    # Bytes only fall as the threshold rises, so bisect over the distinct normalized values.
    candidates = torch.cat([values for values in normalized.values()]).unique().sort().values.tolist()
    low, high = 0, len(candidates) - 1
    while low < high:
        middle = (low + high) // 2
        if estimated_bytes(shapes, ranks_at(candidates[middle])) <= budget_bytes:
            high = middle
        else:
            low = middle + 1
    ranks = ranks_at(candidates[low])
    if estimated_bytes(shapes, ranks) > budget_bytes:
        ranks = {name: 1 for name in spectra}
    logger.info("global threshold %.4f on normalized singular values: %d estimated int8 weight bytes of %d",
                candidates[low], estimated_bytes(shapes, ranks), budget_bytes)
    return ranks


def _split_layer(module: nn.Module, rank: int) -> nn.Sequential:
    weight = module.weight.detach().flatten(1).double()
    left, singular, right = torch.linalg.svd(weight, full_matrices=False)
    # Split the singular values evenly so both factors have similar ranges for int8 quantization.
    root = singular[:rank].sqrt()
    first_weight = (root[:, None] * right[:rank]).float()  # (rank, in * kh * kw)
    second_weight = (left[:, :rank] * root[None, :]).float()  # (out, rank)
    has_bias = module.bias is not None

    if isinstance(module, nn.Linear):
        first = nn.Linear(module.in_features, rank, bias=False)
        second = nn.Linear(rank, module.out_features, bias=has_bias)
        first.weight.data.copy_(first_weight)
        second.weight.data.copy_(second_weight)
    else:
        first = nn.Conv2d(module.in_channels, rank, module.kernel_size, module.stride, module.padding,
                          module.dilation, bias=False, padding_mode=module.padding_mode)
        second = nn.Conv2d(rank, module.out_channels, 1, bias=has_bias)
        first.weight.data.copy_(first_weight.view(rank, *module.weight.shape[1:]))
        second.weight.data.copy_(second_weight.view(module.out_channels, rank, 1, 1))
    if has_bias:
        second.bias.data.copy_(module.bias.detach())
    return nn.Sequential(first, second)


def truncate_(model: nn.Module, ranks: dict[str, int]) -> list[LayerRank]:
    """Replace each layer named in `ranks` by its rank-truncated two-layer split, in place.

    A layer whose rank would not save bytes stays dense and unchanged. Returns one record per layer.
    """
    layers = truncatable_layers(model)
    unknown = set(ranks) - set(layers)
    if unknown:
        raise KeyError(f"no truncatable layers named {sorted(unknown)}")

    records = []
    for name, rank in ranks.items():
        module = layers[name]
        out_features, in_features = module.weight.flatten(1).shape
        full_rank = min(out_features, in_features)
        factorized = rank < full_rank and split_saves_bytes(out_features, in_features, rank)
        if factorized:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, _split_layer(module, rank))
        else:
            logger.debug("not splitting %s: rank %d of %d saves no bytes", name, rank, full_rank)
        records.append(LayerRank(name, list(module.weight.shape), rank if factorized else full_rank,
                                 full_rank, factorized))
    return records
