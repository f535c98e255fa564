"""The bounded inference pool: ``inference_workers`` threads (default: the number of cores)
running the models on shared single-threaded sessions, with back-pressure (503 when too
many scans wait, 429 when one key has too many in flight)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from service.core.errors import OverloadedError, RateLimitedError
from service.core.metrics import Metrics

T = TypeVar("T")


class InferenceGate:
    """Runs model work in a fixed thread pool; refuses work instead of queueing forever."""

    def __init__(
        self,
        *,
        workers: int,
        max_pending: int,
        max_per_key: int,
        retry_after_s: int,
        metrics: Metrics,
    ) -> None:
        self.executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="twinwatch-inference"
        )
        self.max_pending = max_pending
        self.max_per_key = max_per_key
        self.retry_after_s = retry_after_s
        self.metrics = metrics
        self._lock = threading.Lock()
        self._pending = 0
        self._per_key: Counter[int] = Counter()

    @contextmanager
    def admitted(self, key_id: int | None) -> Iterator[None]:
        """Reserve a place for one scan (held across fetch, inference and recording)."""
        with self._lock:
            if key_id is not None and self._per_key[key_id] >= self.max_per_key:
                self.metrics.rejected.labels("per_key").inc()
                raise RateLimitedError(
                    f"This API key already has {self._per_key[key_id]} scans in flight (limit "
                    f"{self.max_per_key}); retry after {self.retry_after_s}s.",
                    retry_after_s=self.retry_after_s,
                )
            if self._pending >= self.max_pending:
                self.metrics.rejected.labels("queue_full").inc()
                raise OverloadedError(
                    f"The scan queue is full ({self._pending} in progress); retry after "
                    f"{self.retry_after_s}s.",
                    retry_after_s=self.retry_after_s,
                )
            self._pending += 1
            if key_id is not None:
                self._per_key[key_id] += 1
            self.metrics.inference_pending.set(self._pending)
        try:
            yield
        finally:
            with self._lock:
                self._pending -= 1
                if key_id is not None:
                    self._per_key[key_id] -= 1
                self.metrics.inference_pending.set(self._pending)

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(function, *args, **kwargs))

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
