"""Static int8 quantization with PT2E: per-channel symmetric weights, calibrated on training images.

Each runtime gets its own quantizer, because each annotates the graph for the kernels it has:
XNNPACK's for ExecuTorch and LiteRT's for .tflite.
"""

import logging
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from edgepipe.errors import ConfigError

logger = logging.getLogger(__name__)

Backend = Literal["xnnpack", "litert"]


def fold_batchnorm_(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d in a Sequential into the conv, in place."""
    model.eval()
    folded = 0
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.named_children())
        for (_, first), (second_name, second) in zip(children, children[1:]):
            if isinstance(first, nn.Conv2d) and isinstance(second, nn.BatchNorm2d):
                setattr(parent, _, fuse_conv_bn_eval(first, second))
                setattr(parent, second_name, nn.Identity())
                folded += 1
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            logger.debug("not folding %s: it does not directly follow a Conv2d in a Sequential", name)
    if folded:
        logger.info("folded %d BatchNorm layers into their convs", folded)
    return model


def _quantizer(backend: Backend):
    if backend == "xnnpack":
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
        return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    if backend == "litert":
        from litert_torch.quantize import pt2e_quantizer
        return pt2e_quantizer.PT2EQuantizer().set_global(
            pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
    raise ConfigError(f"unknown quantization backend {backend!r}; choose 'xnnpack' or 'litert'")


def quantize(model: nn.Module, backend: Backend, example_input: torch.Tensor, calibration: torch.Tensor):
    """Return `model` quantized to static int8 for `backend`, and the quantizer used.

    `example_input` fixes the exported input shape, and `calibration` contains normalized images whose
    activation ranges set the activation scales. `model` itself is left unchanged.
    """
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = _quantizer(backend)
    graph = torch.export.export(model.eval(), (example_input,)).module()
    prepared = prepare_pt2e(graph, quantizer)
    # The exported graph accepts only the example input's batch size, so a short last batch is dropped.
    batch_size = example_input.shape[0]
    with torch.no_grad():
        for batch in calibration.split(batch_size):
            if len(batch) == batch_size:
                prepared(batch)
    quantized = move_exported_model_to_eval(convert_pt2e(prepared, fold_quantize=backend == "xnnpack"))
    logger.info("quantized to int8 for %s on %d calibration images", backend, len(calibration))
    return quantized, quantizer
