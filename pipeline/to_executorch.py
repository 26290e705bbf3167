"""Export a quantized model to an ExecuTorch program (.pte) delegated to XNNPACK."""

import logging
from pathlib import Path

import torch

from edgepipe.errors import ExportError

logger = logging.getLogger(__name__)


def to_executorch(quantized: torch.nn.Module, example_input: torch.Tensor, path: Path) -> dict:
    """Lower `quantized` to XNNPACK, write the program to `path` and return its input and output specs."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    try:
        exported = torch.export.export(quantized, (example_input,))
        program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
    except Exception as error:  # ExecuTorch raises many exception types, so report the type and message
        raise ExportError(f"ExecuTorch export failed: {type(error).__name__}: {error}") from error

    path.write_bytes(program.buffer)
    with torch.no_grad():
        output = quantized(example_input)
    logger.info("wrote %s: %d bytes", path, path.stat().st_size)
    return {
        "inputs": [{"shape": list(example_input.shape), "dtype": "float32", "layout": "NCHW", "quantization": None}],
        "outputs": [{"shape": list(output.shape), "dtype": "float32", "layout": None, "quantization": None}],
    }
