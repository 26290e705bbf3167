"""Rank-selection policies: how the byte budget is shared among the layers.

- `greedy` (default): the most normalized spectral energy per byte (`truncate.choose_ranks`).
- `threshold`: one global threshold on per-layer normalized singular values (`truncate.threshold_ranks`).
- `search`: several candidate allocations, each truncated and scored on the validation split, keeping
  the best. No candidate is trained, and no test image is used.
"""

import copy
import logging
from collections.abc import Callable

import torch
from torch import nn

from edgepipe.errors import ConfigError
from edgepipe.pipeline.truncate import choose_ranks, threshold_ranks, truncate_

logger = logging.getLogger(__name__)

POLICIES = ("greedy", "threshold", "search")
# Spectral powers of the greedy candidates in the search: 1 favors layers with flat spectra, 4 layers
# whose energy sits in a few directions.
SEARCH_POWERS = (1.0, 2.0, 4.0)

Score = Callable[[nn.Module], float]


def _candidates(model: nn.Module, budget_bytes: int, spectra: dict[str, torch.Tensor]) -> dict[str, dict[str, int]]:
    candidates = {f"greedy power {power:g}": choose_ranks(model, budget_bytes, spectra, power)
                  for power in SEARCH_POWERS}
    candidates["threshold"] = threshold_ranks(model, budget_bytes, spectra)
    return candidates


def select_ranks(policy: str, model: nn.Module, budget_bytes: int, spectra: dict[str, torch.Tensor],
                 score: Score | None = None) -> dict[str, int]:
    """Return each layer's rank under `policy`; `search` needs `score`, which rates a truncated model."""
    if policy == "greedy":
        return choose_ranks(model, budget_bytes, spectra)
    if policy == "threshold":
        return threshold_ranks(model, budget_bytes, spectra)
    if policy != "search":
        raise ConfigError(f"unknown rank policy {policy!r}; choose one of: {', '.join(POLICIES)}")
    if score is None:
        raise ValueError("the search policy needs a score function")

    best_name, best_ranks, best_score = None, None, -1.0
    for name, ranks in _candidates(model, budget_bytes, spectra).items():
        truncated = copy.deepcopy(model)
        truncate_(truncated, ranks)
        candidate_score = score(truncated)
        logger.info("rank search: %s scores %.4f on validation", name, candidate_score)
        if candidate_score > best_score:
            best_name, best_ranks, best_score = name, ranks, candidate_score
    logger.info("rank search chose %s (validation top-1 %.4f)", best_name, best_score)
    return best_ranks
