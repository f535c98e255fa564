"""Prometheus metrics (one registry per app, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.scans = Counter(
            "twinwatch_scans_total", "Images scanned", ["kind", "outcome"], registry=self.registry
        )
        self.faces = Counter(
            "twinwatch_faces_total", "Faces found, by band", ["band"], registry=self.registry
        )
        self.verdicts = Counter(
            "twinwatch_licence_verdicts_total",
            "Licence verdicts",
            ["verdict"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "twinwatch_alerts_total",
            "Alerts created or re-sighted",
            ["event"],
            registry=self.registry,
        )
        self.webhook_failures = Counter(
            "twinwatch_webhook_failures_total",
            "Failed webhook delivery attempts",
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "twinwatch_webhook_deliveries_total", "Delivered webhooks", registry=self.registry
        )
        self.scan_latency = Histogram(
            "twinwatch_scan_seconds",
            "End-to-end scan latency",
            ["kind"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
            registry=self.registry,
        )
        self.inference_pending = Gauge(
            "twinwatch_inference_pending",
            "Scans queued or running in the inference pool",
            registry=self.registry,
        )
        self.rejected = Counter(
            "twinwatch_overload_rejections_total",
            "Requests refused with 429/503",
            ["reason"],
            registry=self.registry,
        )

        # The batch queue, for autoscaling workers: depth (set from the database when
        # scraped), how long items waited for a worker, and what each worker got through.
        self.job_items = Gauge(
            "twinwatch_job_items",
            "Batch items waiting or being scanned, in the whole installation",
            ["status"],
            registry=self.registry,
        )
        self.job_item_wait = Histogram(
            "twinwatch_job_item_wait_seconds",
            "From a job's submission to a worker claiming one of its items",
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600),
            registry=self.registry,
        )
        self.job_items_processed = Counter(
            "twinwatch_job_items_processed_total",
            "Batch items finished by this process's workers",
            ["worker", "outcome"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
