"""A hook for progress bars: the library wraps its long loops, and only the CLI decides how they show."""

from collections.abc import Iterable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    """Wrap an iterable for display, like `tqdm(iterable, desc=..., total=...)`."""

    def __call__(self, iterable: Iterable[T], *, desc: str, total: int | None = None) -> Iterable[T]: ...


def silent(iterable: Iterable[T], *, desc: str, total: int | None = None) -> Iterable[T]:
    """Show nothing; the default for library calls."""
    return iterable
