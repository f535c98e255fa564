"""The worker pool the CLI and batch paths share: ``inference_workers`` threads.

Threads in one process, not processes: onnxruntime, OpenCV and NumPy release the GIL
while they work, so two threads keep two cores busy, and the loaded models (one copy,
single-threaded non-spinning sessions) are shared.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from queue import Full, Queue
from typing import TypeVar, cast

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


def prefetched(items: Iterator[T], depth: int) -> Generator[T, None, None]:
    """``items`` produced on a helper thread at most ``depth`` ahead of the consumer (video
    decoding, which releases the GIL, overlaps the models). Close the returned generator
    (``contextlib.closing``) to stop and join the helper when the consumer stops early; an
    error on the helper is raised to the consumer."""
    queue: Queue[tuple[bool, T | BaseException | None]] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, T | BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.05)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))

    helper = threading.Thread(target=produce, name="twinwatch-prefetch", daemon=True)
    helper.start()
    try:
        while True:
            more, value = queue.get()
            if isinstance(value, BaseException):
                raise value
            if not more:
                return
            yield cast(T, value)
    finally:
        stop.set()
        helper.join()
