"""edgepipe: compress a PyTorch model with LoRITa, quantize it to int8 and export it for a device."""

import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edgepipe.errors import BudgetError, ConfigError, DataError, EdgepipeError, ExportError, TargetError

# The installed package maps pipeline/, models/ and targets/ into edgepipe.*. In a source checkout they
# sit beside this folder, so add the checkout to the search path for `python -m pytest` and the like.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "pipeline").is_dir():
    __path__.append(str(_checkout))

try:
    __version__ = version("edgepipe")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# The library never configures logging; the CLI attaches the handlers.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["BudgetError", "ConfigError", "DataError", "EdgepipeError", "ExportError", "TargetError", "__version__"]
