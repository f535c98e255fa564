"""The states and kinds of watches and their runs."""

from __future__ import annotations

from enum import StrEnum


class WatchKind(StrEnum):
    SITE = "site"  # a start URL, links followed within its registrable domain
    PAGE = "page"  # one page
    SITEMAP = "sitemap"  # a sitemap or sitemap index (gzipped children included)
    FEED = "feed"  # an RSS or Atom feed's entries


class RunStatus(StrEnum):
    QUEUED = "queued"
    CRAWLING = "crawling"  # claimed by a worker (a lease: taken again once it runs out)
    SCANNING = "scanning"  # crawled; its job's items are being scanned
    DONE = "done"
    FAILED = "failed"


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"


class Problem(StrEnum):
    """What a run reports about a URL it did not fully take, or a cap it reached."""

    ROBOTS = "robots_disallowed"
    HOST_STOPPED = "host_stopped"
    THROTTLED = "throttled_too_long"
    FETCH_FAILED = "fetch_failed"
    UNREADABLE = "unreadable"
    NOT_AN_IMAGE = "not_an_image"
    PAGE_CAP = "max_pages_reached"
    IMAGE_CAP = "max_images_reached"
    BYTES_CAP = "max_bytes_reached"
    DEPTH_CAP = "max_depth_reached"
    LIST_CAP = "max_sitemap_urls_reached"
    TIME_CAP = "run_time_limit_reached"
    ATTEMPTS = "run_attempts_exhausted"


PENDING_RUNS = (RunStatus.QUEUED, RunStatus.CRAWLING, RunStatus.SCANNING)
MAX_RUN_ATTEMPTS = 3
PROBLEMS_KEPT = 200
