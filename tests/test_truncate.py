import pytest
import torch
from torch import nn

from edgepipe.errors import BudgetError
from edgepipe.pipeline.truncate import (
    CHANNEL_OVERHEAD_BYTES,
    choose_ranks,
    layer_bytes,
    singular_values,
    split_saves_bytes,
    threshold_ranks,
    truncate_,
)


def _low_rank(out_features: int, in_features: int, rank: int) -> torch.Tensor:
    return torch.randn(out_features, rank) @ torch.randn(rank, in_features)


def test_split_saves_bytes_break_even():
    # 1024 x 1024: r * 2048 < 1024 * 1024 holds up to r = 511 and fails from r = 512.
    assert split_saves_bytes(1024, 1024, 511)
    assert not split_saves_bytes(1024, 1024, 512)
    # 10 x 1024: r * 1034 < 10240 holds up to r = 9, so even rank 9 of 10 saves a little.
    assert split_saves_bytes(10, 1024, 9)
    assert not split_saves_bytes(10, 1024, 10)


def test_layer_bytes_split_and_dense():
    assert layer_bytes(1024, 784, 100) == 100 * (1024 + 784) + (100 + 1024) * CHANNEL_OVERHEAD_BYTES
    assert layer_bytes(1024, 784, 500) == 1024 * 784 + 1024 * CHANNEL_OVERHEAD_BYTES


def test_truncate_linear_parameter_count():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 48))
    records = truncate_(model, {"0": 5})

    first, second = model[0]
    assert (first.in_features, first.out_features, first.bias) == (64, 5, None)
    assert (second.in_features, second.out_features) == (5, 48)
    assert first.weight.numel() + second.weight.numel() == 5 * (64 + 48)
    assert records[0].to_dict() == {"name": "0", "shape": [48, 64], "rank": 5, "full_rank": 48, "factorized": True}


def test_truncate_exact_for_low_rank_linear():
    torch.manual_seed(0)
    layer = nn.Linear(40, 30)
    with torch.no_grad():
        layer.weight.copy_(_low_rank(30, 40, 4))
    model = nn.Sequential(layer)
    x = torch.randn(16, 40)
    expected = model(x).detach()
    truncate_(model, {"0": 4})
    torch.testing.assert_close(model(x).detach(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride, padding, bias", [(1, 1, True), (2, 0, False), (1, 2, True)])
def test_truncate_exact_for_low_rank_conv(stride, padding, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 12, 3, stride=stride, padding=padding, bias=bias)
    with torch.no_grad():
        conv.weight.copy_(_low_rank(12, 6 * 9, 3).view(12, 6, 3, 3))
    model = nn.Sequential(conv)
    x = torch.randn(2, 6, 10, 10)
    expected = model(x).detach()
    truncate_(model, {"0": 3})

    first, second = model[0]
    assert (first.out_channels, first.kernel_size, first.stride, first.bias) == (3, (3, 3), (stride, stride), None)
    assert (second.in_channels, second.out_channels, second.kernel_size) == (3, 12, (1, 1))
    assert (second.bias is not None) == bias
    torch.testing.assert_close(model(x).detach(), expected, rtol=1e-4, atol=1e-4)


def test_truncate_keeps_layer_dense_when_split_is_larger():
    model = nn.Sequential(nn.Linear(8, 8))
    weight = model[0].weight.clone()
    records = truncate_(model, {"0": 6})  # 6 * 16 = 96 > 64 weights
    assert isinstance(model[0], nn.Linear)
    assert torch.equal(model[0].weight, weight)
    assert (records[0].rank, records[0].factorized) == (8, False)


def test_truncate_unknown_layer_raises():
    with pytest.raises(KeyError, match="missing"):
        truncate_(nn.Sequential(nn.Linear(4, 4)), {"missing": 1})


def test_choose_ranks_fits_budget_and_prefers_energy():
    torch.manual_seed(0)
    # Layer 0 has rank 4, layer 1 is full rank: a tight budget should go to layer 1's spread spectrum.
    model = nn.Sequential(nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 200))
    with torch.no_grad():
        model[0].weight.copy_(_low_rank(200, 200, 4))
    budget = 30 * (400 + CHANNEL_OVERHEAD_BYTES) + 2 * 200 * CHANNEL_OVERHEAD_BYTES
    ranks = choose_ranks(model, budget)

    spent = sum(layer_bytes(200, 200, rank) for rank in ranks.values())
    assert spent <= budget
    assert ranks["0"] == 4
    assert ranks["2"] > ranks["0"]


def test_choose_ranks_large_budget_keeps_full_rank():
    model = nn.Sequential(nn.Linear(30, 20), nn.Linear(20, 10))
    ranks = choose_ranks(model, 10**9)
    assert ranks == {"0": 20, "1": 10}


def test_choose_ranks_impossible_budget_raises():
    model = nn.Sequential(nn.Linear(300, 300))
    with pytest.raises(BudgetError, match="raise --budget"):
        choose_ranks(model, 100)


def test_singular_values_flatten_conv():
    conv = nn.Conv2d(3, 8, 3)
    spectra = singular_values(nn.Sequential(conv))
    assert spectra["0"].shape == (8,)  # min(8, 3 * 3 * 3)
    assert torch.all(spectra["0"][:-1] >= spectra["0"][1:])


def test_threshold_ranks_fit_budget_with_one_cut():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(120, 100), nn.ReLU(), nn.Linear(100, 80))
    budget = 40 * (220 + 180) + 2000
    ranks = threshold_ranks(model, budget)
    shapes = {"0": (100, 120), "2": (80, 100)}

    assert sum(layer_bytes(*shapes[name], rank) for name, rank in ranks.items()) <= budget
    # One cut: the smallest kept normalized value of each layer is above the largest dropped one of any.
    spectra = singular_values(model)
    smallest_kept = min((spectra[n] / spectra[n][0])[ranks[n] - 1] for n in ranks)
    largest_dropped = max((spectra[n] / spectra[n][0])[ranks[n]] for n in ranks if ranks[n] < len(spectra[n]))
    assert smallest_kept >= largest_dropped


def test_threshold_ranks_large_budget_keeps_everything():
    model = nn.Sequential(nn.Linear(30, 20))
    assert threshold_ranks(model, 10**9) == {"0": 20}


@pytest.mark.parametrize("power", [1.0, 2.0, 4.0])
def test_choose_ranks_every_power_fits(power):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 150))
    budget = 50_000
    ranks = choose_ranks(model, budget, power=power)
    assert layer_bytes(200, 200, ranks["0"]) + layer_bytes(150, 200, ranks["2"]) <= budget
