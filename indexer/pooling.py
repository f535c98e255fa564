"""The worker pool the CLI and batch paths share: ``inference_workers`` threads.

Threads in one process, not processes: onnxruntime, OpenCV and NumPy release the GIL
while they work, so two threads keep two cores busy, and the loaded models (one copy,
single-threaded non-spinning sessions) are shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(function: Callable[[T], R], items: Iterable[T], *, workers: int) -> Iterator[R]:
    """``map(function, items)`` on ``workers`` threads, results in input order, at most
    ``2 * workers`` items in flight (so a long folder is not read into memory at once).

    With one worker it runs inline, in the caller's thread. An exception from ``function``
    is raised when its result is reached.
    """
    if workers <= 1:
        yield from map(function, items)
        return
    window = 2 * workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twinwatch-worker") as pool:
        pending: list[Future[R]] = []
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= window:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
