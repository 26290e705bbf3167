"""Parse byte budgets such as `2MB`, `2MiB`, `500kB` or `1.5M`.

Decimal units are powers of 10 (kB = 10^3, MB = 10^6, GB = 10^9) and binary units powers of 2
(KiB = 2^10, MiB = 2^20, GiB = 2^30). A bare K, M or G is decimal, and a plain number is bytes.
"""

import math
import re
from decimal import Decimal

from edgepipe.errors import BudgetError

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
    "kib": 2**10, "mib": 2**20, "gib": 2**30,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


def parse_budget(text: str) -> int:
    """Return the number of bytes that `text` names, rounded down to a whole byte."""
    match = _PATTERN.match(text)
    if match and match.group(2).endswith("b") and match.group(2) != "b":
        raise BudgetError(f"invalid budget {text!r}: a lowercase b means bits; write bytes with B, such as 2MB")
    if not match or match.group(2).lower() not in _UNITS:
        raise BudgetError(f"invalid budget {text!r}: use a number with an optional unit, "
                          f"such as 2MB (10^6 bytes), 2MiB (2^20 bytes), 500kB, 1.5M or 2000000")
    # Decimal keeps values such as 1.005kB exact, where float arithmetic would round them down a byte.
    budget = math.floor(Decimal(match.group(1)) * _UNITS[match.group(2).lower()])
    if budget < 1:
        raise BudgetError(f"invalid budget {text!r}: it must be at least 1 byte")
    return budget


def format_bytes(count: int) -> str:
    """Format a byte count for file names and tables: 2000000 -> '2MB', 1536000 -> '1.536MB'."""
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= size:
            return f"{count / size:.4g}{unit}"
    return f"{count}B"
