"""edgepipe: compress a PyTorch model with LoRITa, quantize it to int8 and export it for a device."""

import logging
from importlib.metadata import PackageNotFoundError, version

from edgepipe.errors import BudgetError, ConfigError, DataError, EdgepipeError, ExportError, TargetError

try:
    __version__ = version("edgepipe")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# The library never configures logging; the CLI attaches the handlers.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["BudgetError", "ConfigError", "DataError", "EdgepipeError", "ExportError", "TargetError", "__version__"]
