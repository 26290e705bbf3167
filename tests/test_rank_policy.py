import pytest
import torch
from torch import nn

from edgepipe.errors import ConfigError
from edgepipe.pipeline.rank_policy import SEARCH_POWERS, select_ranks
from edgepipe.pipeline.truncate import choose_ranks, singular_values, threshold_ranks


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def test_select_ranks_greedy_and_threshold_delegate():
    model = _model()
    spectra = singular_values(model)
    assert select_ranks("greedy", model, 5000, spectra) == choose_ranks(model, 5000, spectra)
    assert select_ranks("threshold", model, 5000, spectra) == threshold_ranks(model, 5000, spectra)


def test_select_ranks_search_keeps_best_scored_candidate():
    model = _model()
    spectra = singular_values(model)
    scored = []

    def score(truncated: nn.Module) -> float:
        # Prefer the candidate that keeps the most rank in the first layer.
        first = truncated[0]
        rank = first[0].out_features if isinstance(first, nn.Sequential) else 64
        scored.append(rank)
        return rank

    ranks = select_ranks("search", model, 5000, spectra, score)
    assert len(scored) == len(SEARCH_POWERS) + 1
    assert ranks["0"] == max(scored)


def test_select_ranks_unknown_policy_raises():
    model = _model()
    with pytest.raises(ConfigError, match="unknown rank policy 'best'; choose one of: greedy, threshold, search"):
        select_ranks("best", model, 5000, singular_values(model))
