"""Progress bars: tqdm's where one is shown, nothing at all where it is not.

A disabled tqdm bar still takes tqdm's write lock, one lock for every thread of the process, as it is created
and closed. An interrupt (Ctrl-C) that lands while tqdm acquires that lock can leave it held by the main thread,
which can take it again, while every other thread waits for it for ever. So a run with ``progress=False``
never touches tqdm.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Quiet:
    """The stand-in for a hidden bar: it counts nothing and shows nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> Quiet:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def bar(iterable: Iterable[Any] | None = None, *, show: bool, **options: Any) -> Any:
    """``tqdm(iterable, **options)`` where ``show``; otherwise ``iterable`` itself, or a :class:`Quiet` bar
    where there is none (``with bar(total=n, show=...) as b: b.update(k)``)."""
    if show:
        from tqdm.auto import tqdm

        return tqdm(iterable, **options)
    return iterable if iterable is not None else Quiet()
