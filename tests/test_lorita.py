import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from edgepipe.errors import ConfigError
from edgepipe.models import create_model
from edgepipe.pipeline.lorita import collapse_, factorize_, factored_flops_ratio, step_cost


def _conv_net(bias: bool = True) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=bias), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=bias), nn.ReLU(),
        nn.Conv2d(16, 16, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(16 * 6 * 6, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.mark.parametrize("batch_size", [1, 4096])  # small batches favor activations, large ones weights
@pytest.mark.parametrize("factors", [2, 3, 4])
def test_collapse_matches_factored_model(batch_size, factors):
    torch.manual_seed(0)
    model = _conv_net()
    x = torch.randn(8, 1, 12, 12)
    factorize_(model, factors, batch_size, x)
    with torch.no_grad():
        expected = model(x)
        collapse_(model)
        actual = model(x)

    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)
    assert not any(parametrize.is_parametrized(m) for m in model.modules())
    assert not any("forward" in vars(m) for m in model.modules())


def test_factorize_keeps_module_tree():
    model = create_model("mlp-small")
    names_before = [name for name, _ in model.named_modules()]
    factorize_(model, 3, 256, torch.randn(2, 1, 28, 28))
    collapse_(model)

    assert [name for name, _ in model.named_modules()] == names_before
    assert set(model.state_dict()) == set(create_model("mlp-small").state_dict())


def test_factorize_linear_factor_shapes():
    layer = nn.Linear(6, 4)
    factorize_(layer, 3, 1)
    factors = layer.parametrizations.weight[0].factors

    assert [tuple(f.shape) for f in factors] == [(6, 6), (6, 6)]
    assert tuple(layer.parametrizations.weight.original.shape) == (4, 6)
    assert tuple(layer.weight.shape) == (4, 6)


def test_factorize_conv_factor_shapes():
    layer = nn.Conv2d(3, 5, 3)
    factorize_(layer, 3, 1, torch.randn(1, 3, 8, 8))
    factors = layer.parametrizations.weight[0].factors

    assert [tuple(f.shape) for f in factors] == [(5, 5), (5, 5)]
    assert tuple(layer.parametrizations.weight.original.shape) == (5, 3, 3, 3)


def test_factorize_chooses_cheaper_association():
    model = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    associations = factorize_(model, 3, 256)

    # A wide layer at batch 256 is cheaper through the activations, a 10-wide head through its weight.
    assert associations == {"0": "activation", "2": "weight"}
    for name, association in associations.items():
        costs = {a: step_cost(model.get_submodule(name), a, 3, 256) for a in ("weight", "activation")}
        assert costs[association] == min(costs.values())


def test_factorize_one_factor_changes_nothing():
    model = create_model("mlp-small")
    assert factorize_(model, 1) == {}
    assert not any(parametrize.is_parametrized(m) for m in model.modules())


def test_factorize_zero_factors_raises():
    with pytest.raises(ConfigError, match="factors must be at least 1, got 0"):
        factorize_(create_model("mlp-small"), 0)


def test_factorize_skips_grouped_conv():
    model = nn.Sequential(nn.Conv2d(4, 4, 3, groups=4), nn.Conv2d(4, 8, 1))
    associations = factorize_(model, 3, 8, torch.randn(1, 4, 8, 8))
    assert list(associations) == ["1"]


def test_weight_decay_gradient_reaches_every_factor():
    torch.manual_seed(0)
    layer = nn.Linear(5, 3)
    factorize_(layer, 3, 1)
    layer(torch.randn(2, 5)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())


def test_factored_flops_ratio_mlp():
    model = nn.Sequential(nn.Linear(1000, 1000), nn.Linear(1000, 10))
    associations = factorize_(model, 3, 256)
    # Layer 0 runs through the activations: two extra 1000x1000 products per sample beside its own.
    # Layer 1 multiplies its factors once per step: 2 * 10 * 1000^2 beside 256 * 10 * 1000.
    factored = 256 * 3 * 1000 * 1000 + 2 * 10 * 1000 * 1000 + 256 * 10 * 1000
    plain = 256 * 1000 * 1000 + 256 * 10 * 1000
    ratio = factored_flops_ratio(model, associations, 3, 256, torch.randn(1, 1000))
    assert ratio == pytest.approx(factored / plain)


@pytest.mark.parametrize("factors", [2, 3])
def test_factorize_identity_keeps_trained_outputs(factors):
    torch.manual_seed(0)
    model = _conv_net(bias=False)
    x = torch.randn(4, 1, 12, 12)
    with torch.no_grad():
        expected = model(x)
        weights = {name: p.clone() for name, p in model.named_parameters()}
        factorize_(model, factors, 4096, x, init="identity")
        actual = model(x)

    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            assert torch.equal(module.weight, weights[f"{name}.weight"])


def test_factorize_unknown_init_raises():
    with pytest.raises(ConfigError, match="init must be 'orthogonal' or 'identity', got 'zeros'"):
        factorize_(nn.Linear(3, 3), 2, init="zeros")
