import torch
from torch import nn

from edgepipe.models import create_model
from edgepipe.pipeline.quantize import fold_batchnorm_, quantize


def test_fold_batchnorm_matches_eager():
    torch.manual_seed(0)
    model = create_model("cnn")
    # Give BatchNorm non-trivial statistics, as training would.
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 1, 28, 28))
    model.eval()
    x = torch.randn(4, 1, 28, 28)
    expected = model(x).detach()
    fold_batchnorm_(model)

    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(model(x).detach(), expected, rtol=1e-4, atol=1e-4)


def test_quantize_xnnpack_close_to_float():
    torch.manual_seed(0)
    model = create_model("mlp-small").eval()
    calibration = torch.randn(64, 1, 28, 28)
    quantized, _ = quantize(model, "xnnpack", calibration[:1], calibration)
    x = calibration[:8]
    expected = torch.cat([model(row) for row in x.split(1)]).detach()
    actual = torch.cat([quantized(row) for row in x.split(1)]).detach()
    # int8 activations keep about 2 significant digits of the logit range.
    assert (actual - expected).abs().max() < 0.05 * expected.abs().max()
