"""The polite crawler: every request of a watch run goes through :class:`PoliteFetcher`.

Per host (scheme, host, port): robots.txt is read first (Protego) and honoured for the
configured user agent, with its ``Crawl-delay``; one request at a time (an ``asyncio.Lock``
shared by every run of the worker process) and at least ``crawl_min_delay_s`` (or the
crawl-delay, whichever is longer) between two requests; a 429 or 503 is waited out for its
``Retry-After`` (up to ``crawl_max_delay_s``, else the host is stopped for the run);
consecutive failures back off exponentially and stop the host after
``crawl_max_errors_per_host``. Every request goes through the SSRF-safe fetcher
(:func:`service.core.fetching.fetch_document`), bounded in bytes and time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from protego import Protego

from indexer.errors import TwinwatchError
from service.core.errors import UrlFetchFailedError
from service.core.fetching import (
    DocumentRequest,
    FetchedDocument,
    FetchLimits,
    PrivateAccess,
    Validators,
    fetch_document,
)
from service.core.settings import ServiceSettings
from service.crawl.rules import Problem

log = logging.getLogger(__name__)
ROBOTS_MAX_BYTES = 512 * 1024
THROTTLE_RETRIES = 2


class CrawlRefusedError(Exception):
    def __init__(self, reason: Problem, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Politeness:
    user_agent: str
    min_delay_s: float
    max_delay_s: float
    max_errors: int
    timeout_s: float
    max_redirects: int
    access: PrivateAccess

    @classmethod
    def of(cls, settings: ServiceSettings) -> Politeness:
        return cls(
            user_agent=settings.crawl_user_agent,
            min_delay_s=settings.crawl_min_delay_s,
            max_delay_s=settings.crawl_max_delay_s,
            max_errors=settings.crawl_max_errors_per_host,
            timeout_s=settings.fetch_timeout_s,
            max_redirects=settings.fetch_max_redirects,
            access=settings.private_access(),
        )


@dataclass
class HostGate:
    """One host's turn: one request at a time, not before ``next_at`` (monotonic)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0


class HostGates:
    """The gates of every host, shared by all the runs of one worker process."""

    def __init__(self) -> None:
        self._gates: dict[str, HostGate] = {}

    def of(self, origin: str) -> HostGate:
        return self._gates.setdefault(origin, HostGate())


@dataclass
class _HostState:
    robots: Protego | None
    delay_s: float
    errors: int = 0
    stopped: str | None = None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass
class RequestCounts:
    requests: int = 0
    not_modified: int = 0
    waited_s: float = 0.0


class PoliteFetcher:
    """One run's fetcher (its hosts' robots and error counts), over the process's gates."""

    def __init__(self, politeness: Politeness, gates: HostGates) -> None:
        self.politeness = politeness
        self.gates = gates
        self.counts = RequestCounts()
        self._hosts: dict[str, _HostState] = {}

    async def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        media_types: frozenset[str] | None,
        validators: Validators | None = None,
    ) -> FetchedDocument:
        """``url`` fetched politely, or :class:`CrawlRefusedError` saying why not."""
        origin = origin_of(url)
        host = await self._host(origin)
        if host.stopped:
            raise CrawlRefusedError(Problem.HOST_STOPPED, host.stopped)
        if host.robots is not None and not host.robots.can_fetch(url, self.politeness.user_agent):
            raise CrawlRefusedError(Problem.ROBOTS, f"robots.txt disallows {url[:300]}")
        request = DocumentRequest(
            media_types=media_types,
            user_agent=self.politeness.user_agent,
            validators=validators or Validators(),
        )
        return await self._with_retries(url, origin, host, request, max_bytes)

    async def _with_retries(
        self, url: str, origin: str, host: _HostState, request: DocumentRequest, max_bytes: int
    ) -> FetchedDocument:
        for _ in range(THROTTLE_RETRIES + 1):
            try:
                fetched = await self._request(url, origin, host.delay_s, request, max_bytes)
            except UrlFetchFailedError as exc:
                wait = self._throttled(exc, host)
                if wait is None:
                    raise self._failed(host, exc) from None
                self.gates.of(origin).next_at = time.monotonic() + wait
                continue
            except TwinwatchError as exc:
                raise self._failed(host, exc) from None
            host.errors = 0
            return fetched
        host.stopped = f"{origin} kept answering 429/503"
        raise CrawlRefusedError(Problem.THROTTLED, host.stopped)

    def _throttled(self, exc: UrlFetchFailedError, host: _HostState) -> float | None:
        """Seconds to wait before asking again (a 429/503 with a bearable Retry-After)."""
        if exc.details.get("status") not in (429, 503):
            return None
        wait = exc.details.get("retry_after")
        wait_s = float(wait) if isinstance(wait, int | float) else host.delay_s * 2
        if wait_s > self.politeness.max_delay_s:
            host.stopped = f"Retry-After {wait_s:g} s is over {self.politeness.max_delay_s:g} s"
            raise CrawlRefusedError(Problem.THROTTLED, host.stopped)
        return max(wait_s, host.delay_s)

    def _failed(self, host: _HostState, exc: TwinwatchError) -> CrawlRefusedError:
        host.errors += 1
        if host.errors >= self.politeness.max_errors:
            host.stopped = f"{host.errors} failures in a row; the last: {exc.code}"
        return CrawlRefusedError(Problem.FETCH_FAILED, f"{exc.code}: {exc.message[:300]}")

    async def _request(
        self, url: str, origin: str, delay_s: float, request: DocumentRequest, max_bytes: int
    ) -> FetchedDocument:
        gate = self.gates.of(origin)
        async with gate.lock:
            wait = gate.next_at - time.monotonic()
            if wait > 0:
                self.counts.waited_s += wait
                await asyncio.sleep(wait)
            try:
                self.counts.requests += 1
                fetched = await fetch_document(
                    url,
                    limits=FetchLimits(
                        max_bytes=max_bytes,
                        timeout_s=self.politeness.timeout_s,
                        max_redirects=self.politeness.max_redirects,
                    ),
                    request=request,
                    allow_private_networks=self.politeness.access,
                )
            finally:
                gate.next_at = max(gate.next_at, time.monotonic() + delay_s)
        if fetched.not_modified:
            self.counts.not_modified += 1
        return fetched

    async def _host(self, origin: str) -> _HostState:
        state = self._hosts.get(origin)
        if state is None:
            state = await self._read_robots(origin)
            self._hosts[origin] = state
        return state

    async def _read_robots(self, origin: str) -> _HostState:
        """The host's robots.txt: absent (4xx) allows everything; unreachable (5xx, a failed
        fetch) stops the host for the run, as RFC 9309 asks."""
        polite = self.politeness
        request = DocumentRequest(media_types=None, user_agent=polite.user_agent)
        try:
            fetched = await self._request(
                f"{origin}/robots.txt", origin, polite.min_delay_s, request, ROBOTS_MAX_BYTES
            )
        except UrlFetchFailedError as exc:
            status = exc.details.get("status")
            if isinstance(status, int) and 400 <= status < 500 and status != 429:
                return _HostState(robots=None, delay_s=polite.min_delay_s)
            return _HostState(None, polite.min_delay_s, stopped=f"robots.txt: {exc.code}")
        except TwinwatchError as exc:
            return _HostState(None, polite.min_delay_s, stopped=f"robots.txt: {exc.code}")
        robots = Protego.parse(fetched.data.decode("utf-8", errors="replace"))
        asked = robots.crawl_delay(polite.user_agent)
        delay = max(polite.min_delay_s, float(asked or 0.0))
        self.gates.of(origin).next_at += delay - polite.min_delay_s  # from robots.txt on
        if delay > polite.max_delay_s:
            stopped = f"Crawl-delay {delay:g} s is over {polite.max_delay_s:g} s"
            return _HostState(robots, delay, stopped=stopped)
        return _HostState(robots=robots, delay_s=delay)
