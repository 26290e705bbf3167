"""Convert a PT2E-quantized model to a LiteRT flatbuffer (.tflite) with litert-torch.

The full-int8 model takes an int8 input and returns an int8 output, each with its own scale and zero
point, which the returned specs record. litert-torch keeps the NCHW input layout of PyTorch.
"""

import logging
from pathlib import Path

import numpy as np
import torch

from edgepipe.errors import ExportError
from edgepipe.pipeline.runner import TFLiteModel

logger = logging.getLogger(__name__)


def _tensor_spec(details: dict, layout: str | None) -> dict:
    scale, zero_point = details["quantization"]
    dtype = np.dtype(details["dtype"]).name
    quantization = {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
    return {"shape": [int(d) for d in details["shape"]], "dtype": dtype, "layout": layout,
            "quantization": quantization}


def to_tflite(quantized: torch.nn.Module, quantizer, example_input: torch.Tensor, path: Path) -> dict:
    """Convert `quantized` (prepared and converted with `quantizer`) to `path`; return its input and output specs."""
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig

    try:
        edge_model = litert_torch.convert(quantized, (example_input,),
                                          quant_config=QuantConfig(pt2e_quantizer=quantizer))
        edge_model.export(str(path))
    except Exception as error:  # the converter raises many exception types, so report the type and message
        raise ExportError(f"LiteRT conversion failed: {type(error).__name__}: {error}") from error

    interpreter = TFLiteModel(path).interpreter
    specs = {
        "inputs": [_tensor_spec(d, "NCHW" if len(d["shape"]) == 4 else None)
                   for d in interpreter.get_input_details()],
        "outputs": [_tensor_spec(d, None) for d in interpreter.get_output_details()],
    }
    logger.info("wrote %s: %d bytes, input %s", path, path.stat().st_size, specs["inputs"][0]["dtype"])
    return specs
