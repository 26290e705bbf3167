import pytest

from edgepipe.errors import BudgetError
from edgepipe.pipeline.budget import format_bytes, parse_budget


@pytest.mark.parametrize("text, expected", [
    ("2MB", 2_000_000),
    ("2MiB", 2 * 2**20),
    ("500KB", 500_000),
    ("500kB", 500_000),
    ("1.5M", 1_500_000),
    ("2000000", 2_000_000),
    ("64KiB", 65_536),
    ("1GB", 10**9),
    (" 2 MB ", 2_000_000),
    ("2m", 2_000_000),
    ("1.005kB", 1005),
    ("1.5MiB", 1_572_864),
    ("0.5MiB", 2**19),
    ("123B", 123),
])
def test_parse_budget_valid(text, expected):
    assert parse_budget(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "2XB", "-1MB", "2 M B", "1e6", "two", "0", "0.1B", "2MBs", "2Mb", "2mb"])
def test_parse_budget_invalid_raises(text):
    with pytest.raises(BudgetError) as raised:
        parse_budget(text)
    assert "\n" not in str(raised.value)
    assert repr(text) in str(raised.value)


def test_format_bytes_units():
    assert format_bytes(2_000_000) == "2MB"
    assert format_bytes(1_536_000) == "1.536MB"
    assert format_bytes(999) == "999B"
