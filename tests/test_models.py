import pytest
import torch

from edgepipe.errors import ConfigError
from edgepipe.models import DEFAULT_MODEL, create_model, list_models
from edgepipe.pipeline.run import _weight_count


@pytest.mark.parametrize("name", list(list_models()))
def test_create_model_forward_shape(name):
    model = create_model(name).eval()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_default_model_int8_weights_exceed_2mb():
    assert _weight_count(create_model(DEFAULT_MODEL)) > 2_000_000


def test_create_model_unknown_lists_known():
    with pytest.raises(ConfigError, match="unknown model 'resnet'; choose one of: mlp, mlp-small, cnn"):
        create_model("resnet")


def test_create_model_cnn_rectangular_images():
    model = create_model("cnn", (1, 28, 20)).eval()
    assert model(torch.randn(2, 1, 28, 20)).shape == (2, 10)


def test_create_model_cnn_too_small_raises():
    with pytest.raises(ConfigError, match="at least 8x8, got 6x6"):
        create_model("cnn", (1, 6, 6))


@pytest.mark.parametrize("name", list(list_models()))
def test_create_model_width_scales_weights(name):
    full = _weight_count(create_model(name))
    half = _weight_count(create_model(name, width=0.5))
    assert half < 0.5 * full
    assert create_model(name, width=0.5).eval()(torch.randn(2, 1, 28, 28)).shape == (2, 10)
