from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.pooling import ordered_map


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=20), st.integers(1, 4))
def test_results_come_back_in_input_order_whatever_finishes_first(
    delays: list[int], workers: int
) -> None:
    def slow_square(item: tuple[int, int]) -> int:
        position, delay = item
        time.sleep(delay / 1000)
        return position * position

    items = list(enumerate(delays))
    assert list(ordered_map(slow_square, items, workers=workers)) == [p * p for p, _ in items]


def test_work_runs_on_as_many_threads_as_workers_and_no_more() -> None:
    lock = threading.Lock()
    threads: set[int] = set()
    running = peak = 0

    def work(item: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        time.sleep(0.01)
        with lock:
            running -= 1
        return item

    consumed = 0
    for _ in ordered_map(work, range(40), workers=2):
        consumed += 1
    assert consumed == 40
    assert len(threads) == 2
    assert peak <= 2


def test_one_worker_runs_inline_and_errors_reach_the_caller() -> None:
    caller = threading.get_ident()
    assert list(ordered_map(lambda _: threading.get_ident(), range(3), workers=1)) == [caller] * 3

    def fail_on_two(item: int) -> int:
        if item == 2:
            raise ValueError("bad item")
        return item

    results = ordered_map(fail_on_two, range(5), workers=2)
    assert next(results) == 0
    assert next(results) == 1
    with pytest.raises(ValueError, match="bad item"):
        next(results)
