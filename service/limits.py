"""Back-pressure: a bounded inference pool, per-key concurrency, request body size."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api_errors import OverloadedError, RateLimitedError
from service.metrics import Metrics

T = TypeVar("T")


class InferenceGate:
    """Runs model work in a fixed thread pool; refuses work instead of queueing forever."""

    def __init__(self, *, workers: int, max_pending: int, max_per_key: int, retry_after_s: int,
                 metrics: Metrics) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers,
                                           thread_name_prefix="twinwatch-inference")
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
                    retry_after_s=self.retry_after_s)
            if self._pending >= self.max_pending:
                self.metrics.rejected.labels("queue_full").inc()
                raise OverloadedError(
                    f"The scan queue is full ({self._pending} in progress); retry after "
                    f"{self.retry_after_s}s.", retry_after_s=self.retry_after_s)
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


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413, without reading them into memory."""

    def __init__(self, app: ASGIApp, *, max_bytes: int,
                 larger_for: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.larger_for = larger_for or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.larger_for.get(scope["path"], self.default_max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(send, int(declared), max_bytes)
            return
        received = 0
        refused = started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    refused = True
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused and not started:
                return  # the app's error response for the aborted body is replaced by a 413
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused and not started:
            await self._refuse(send, received, max_bytes)

    @staticmethod
    async def _refuse(send: Send, size: int, max_bytes: int) -> None:
        body = (b'{"error":{"code":"payload_too_large","message":"The request body is over the '
                + f"limit of {max_bytes} bytes (got at least {size}).".encode()
                + b'"}}')
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _BodyTooLargeError(Exception):
    pass
