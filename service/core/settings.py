"""Service settings: the indexer's settings plus the API's own (one class, prefix TWINWATCH_)."""

from __future__ import annotations

import functools
import importlib.metadata
import ipaddress
from pathlib import Path
from typing import Annotated, ClassVar, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from indexer.settings import IndexerSettings


def _installed_version() -> str:
    try:
        return importlib.metadata.version("twinwatch")
    except importlib.metadata.PackageNotFoundError:
        return "0"


#: Where the web console is mounted (service/console/links.py builds its paths on it).
CONSOLE_PREFIX: Final = "/console"
#: Console pages whose last path segment is a one-time secret: an invitation, a password
#: reset, the confirmation of a new e-mail address. The access log never writes the secret:
#: service.api.access_log.loggable_target (the one redaction rule) covers every one of them.
INVITE_PATH: Final = f"{CONSOLE_PREFIX}/invite/"
RESET_PATH: Final = f"{CONSOLE_PREFIX}/reset/"
EMAIL_CONFIRM_PATH: Final = f"{CONSOLE_PREFIX}/email/confirm/"
SECRET_LINK_PATHS: Final = (INVITE_PATH, RESET_PATH, EMAIL_CONFIRM_PATH)
#: The service's version as installed (the crawler's User-Agent names it).
SERVICE_VERSION: Final = _installed_version()


@functools.cache
def _read_once(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class ServiceSettings(IndexerSettings):
    host: str = "127.0.0.1"
    port: int = 8000

    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1,
        description="One uploaded or fetched image (a video: video_max_bytes).",
    )
    max_batch_items: int = Field(default=100, ge=1)
    max_portfolio_images: int = Field(
        default=2_000, ge=1, description="Portfolio images per talent (copy detection)."
    )
    max_batch_bytes: int = Field(
        default=200 * 1024 * 1024,
        ge=1,
        description="Whole batch request body (each file is still capped by max_upload_bytes, "
        "a video by video_max_bytes).",
    )
    page_size_max: int = Field(default=200, ge=1)

    max_warc_bytes: int = Field(
        default=4 * 1024**3,
        ge=1,
        description="A WARC archive uploaded for a job (streamed to disk).",
    )
    max_warc_items: int = Field(
        default=10_000,
        ge=1,
        description="Images taken from one WARC archive (the rest are reported as skipped).",
    )
    page_max_images: int = Field(
        default=30, ge=1, description="Images scanned from one submitted page URL."
    )
    page_max_total_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1,
        description="All the images of one submitted page together.",
    )
    page_max_html_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1,
        description="A submitted page's HTML (and each archived page read for its images).",
    )

    max_pending_inferences: int = Field(
        default=16,
        ge=1,
        description="Queued + running scans before new ones get 503 with Retry-After.",
    )
    max_concurrent_per_key: int = Field(
        default=8,
        ge=1,
        description="In-flight scans per API key before it gets 429 with Retry-After.",
    )
    retry_after_s: int = Field(default=2, ge=1)

    fetch_timeout_s: float = Field(default=15.0, gt=0)
    fetch_max_redirects: int = Field(default=3, ge=0)
    fetch_allow_private_networks: bool = Field(
        default=False,
        description="Only for tests and "
        "closed lab networks: lets URL fetches and webhook "
        "deliveries reach private addresses.",
    )

    fetch_private_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host:port entries (comma-separated) that URL fetches may reach at a "
        "private address although fetch_allow_private_networks is off: a test's own server.",
    )

    # --- watches: the polite crawler (docs/watches.md) ---
    crawl_user_agent: str = Field(
        default=f"twinwatch/{SERVICE_VERSION} (+https://github.com/twinwatch/twinwatch)",
        min_length=1,
        max_length=200,
        description="The User-Agent of watch runs, matched against robots.txt groups.",
    )
    crawl_min_delay_s: float = Field(
        default=1.0, ge=0, description="The least time between two requests to one host."
    )
    crawl_max_delay_s: float = Field(
        default=30.0,
        ge=0,
        description="A robots.txt Crawl-delay (or Retry-After) longer than this stops the "
        "host for the run instead of being waited out.",
    )
    crawl_max_errors_per_host: int = Field(
        default=5, ge=1, description="Consecutive failures after which a run stops a host."
    )
    watch_max_pages: int = Field(default=200, ge=1, le=10_000)
    watch_max_images: int = Field(default=500, ge=1, le=10_000)
    watch_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    watch_max_depth: int = Field(default=3, ge=0, le=20)
    watch_max_sitemap_urls: int = Field(
        default=10_000, ge=1, description="URLs read from one sitemap or feed (the rest count)."
    )
    watch_run_timeout_s: float = Field(
        default=900.0, gt=0, description="The wall time of one run's crawl."
    )
    watch_ended_licences: bool = Field(
        default=False,
        description="Watch, without being asked, the pages where an ended or revoked "
        "licence's sightings were seen (the agency may always ask, one licence at a time).",
    )
    watch_lease_s: float = Field(
        default=1200.0, gt=0, description="A claimed run another worker may take after this."
    )

    c2pa_trust_anchors: Path | None = Field(
        default=None,
        description="PEM file of C2PA "
        "trust anchors; without it no signer is trusted "
        "(signatures are still checked for integrity).",
    )

    keep_alert_evidence: bool = Field(
        default=True, description="Keep the scanned image as evidence when it raises an alert."
    )
    evidence_retention_days: int = Field(default=180, ge=1)
    precheck_creates_alerts: bool = False

    run_worker_in_process: bool = Field(
        default=True,
        description="Run one batch worker inside the API process (the embedded default).",
    )
    worker_poll_s: float = Field(default=0.5, gt=0)
    job_lease_s: float = Field(default=120.0, gt=0)

    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_base_s: float = Field(default=2.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)

    public_url: str | None = Field(
        default=None,
        description="The console's address as users "
        "reach it (for invitation links); default http://host:port.",
    )
    console_secure_cookies: bool = Field(
        default=True,
        description="Mark console cookies Secure (turn off only for plain http://localhost).",
    )
    console_session_hours: float = Field(default=12.0, gt=0)
    invitation_hours: float = Field(default=72.0, gt=0)
    password_reset_minutes: float = Field(
        default=30.0,
        gt=0,
        description="A link to set a new password works once, for this long.",
    )
    email_change_hours: float = Field(
        default=24.0,
        gt=0,
        description="A link that confirms a new e-mail address works once, for this long.",
    )
    login_window_minutes: float = Field(
        default=15.0,
        gt=0,
        description="Failed sign-ins are counted over this window for throttling.",
    )
    login_max_failures_per_email: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=20, ge=1)

    # E-mail (service/alerts/emails.py, service/access/mail.py): without smtp_host, agency
    # messages wait in the outbox, and links to accounts are handed out by an operator only.
    smtp_host: str | None = Field(
        default=None, description="SMTP server for agency e-mails and account links."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(
        default=True, description="Upgrade with STARTTLS (turn off only for a local relay)."
    )
    smtp_from: str = "twinwatch <noreply@twinwatch.invalid>"
    smtp_timeout_s: float = Field(default=15.0, gt=0)
    email_time_zone: str = Field(
        default="UTC",
        max_length=64,
        description="IANA time zone of the times in agency e-mails (e.g. Europe/Paris); "
        "each time names its zone.",
    )
    email_max_attempts: int = Field(default=8, ge=1)
    email_backoff_base_s: float = Field(default=30.0, gt=0)

    takedown_response_days: int = Field(
        default=14,
        ge=1,
        description="A sent takedown notice "
        "with no confirmed removal after this many days is "
        "flagged overdue.",
    )

    # --- deliveries ---
    # Outbound deliveries (webhooks, job callbacks, e-mails): one slow receiver must not hold
    # the others (issue 17). Per-read timeouts (webhook_timeout_s, smtp_timeout_s) do not
    # bound a receiver that drips a byte at a time; the deadline bounds the whole attempt.
    delivery_deadline_s: float = Field(
        default=15.0,
        gt=0,
        description="Wall-clock limit on one delivery attempt, whatever the receiver does "
        "(resolution, connection, headers, body); an attempt cut by it counts as failed.",
    )
    delivery_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a claimed outbox row stays claimed: at least twice "
        "delivery_deadline_s, so no other worker takes a row while its attempt can still run.",
    )
    #: delivery_lease_s is at least this many deadlines (the attempt, recording it, and clock
    #: differences between workers all fit in the claim).
    LEASE_PER_DEADLINE: ClassVar[float] = 2.0
    delivery_concurrency: int = Field(
        default=8,
        ge=1,
        description="Webhook deliveries (and, apart, job callbacks) in flight at once per "
        "worker process, each to a different receiver.",
    )

    @model_validator(mode="after")
    def _lease_outlasts_deadline(self) -> ServiceSettings:
        lease_s, deadline_s = self.delivery_lease_s, self.delivery_deadline_s
        if lease_s < self.LEASE_PER_DEADLINE * deadline_s:
            raise ValueError(
                f"delivery_lease_s ({lease_s:g}) must be at least "
                f"{self.LEASE_PER_DEADLINE:g} x delivery_deadline_s ({deadline_s:g}): "
                "a claim that ran out while its attempt still runs lets a second worker "
                "deliver the same row"
            )
        return self

    # --- the network in front of the service ---
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Reverse proxies (IP addresses or networks, comma-separated) whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed; none by default, so the "
        "client address (sign-in throttling per address) is the connection's peer.",
    )

    @field_validator("fetch_private_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    def private_access(self) -> bool | frozenset[str]:
        """Where fetches may reach private addresses (service.core.fetching.PrivateAccess)."""
        return self.fetch_allow_private_networks or frozenset(self.fetch_private_hosts)

    @field_validator("email_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for entry in value:
                ipaddress.ip_network(str(entry), strict=False)  # ValueError: not an address
        return value

    def c2pa_trust_anchors_pem(self) -> str | None:
        return _read_once(self.c2pa_trust_anchors) if self.c2pa_trust_anchors else None

    def console_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def alert_url(self, alert_id: int) -> str | None:
        """The alert's page in the console, for links in e-mail: only with a public URL (a
        link to the bind address would not open from a reader's mailbox)."""
        if not self.public_url:
            return None
        return f"{self.console_url()}{CONSOLE_PREFIX}/alerts/{alert_id}/review"

    def sends_email(self) -> bool:
        """Whether an SMTP server is configured (account links can then go by e-mail)."""
        return self.smtp_host is not None

    def invitation_url(self, token: str) -> str:
        """The one-time link a person opens to set their password (the console's page)."""
        return f"{self.console_url()}{INVITE_PATH}{token}"

    def password_reset_url(self, token: str) -> str:
        """The one-time link to set a new password (sent to the account's own address)."""
        return f"{self.console_url()}{RESET_PATH}{token}"

    def email_confirm_url(self, token: str) -> str:
        """The one-time link, sent to a new address, that makes it the account's address."""
        return f"{self.console_url()}{EMAIL_CONFIRM_PATH}{token}"
