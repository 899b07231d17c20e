"""Prometheus metrics: one ``Metrics`` object per process, its registry passed in.

One worker: the metrics live in a registry (``exchange serve`` passes the process's default
registry, so the process and platform collectors come along; tests pass a fresh one per app).

Several workers (``exchange serve --workers N``): ``exchange serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers start. prometheus-client
then keeps every value in per-process files there, and a scrape of ``/metrics`` on any worker
reads all of them through a ``MultiProcessCollector``: the counts are the whole exchange's.
``exchange serve`` calls ``mark_process_dead`` for each worker that exits, so live gauges
(stream subscribers) drop a dead worker's share.

Every metric (documented in docs/deploy.md):

- ``exchange_http_requests_total{method, route, status}``: answered requests; ``route`` is
  the route template (``/api/v1/collections/{collection}/objects/``), ``unmatched`` for paths
  no route serves, so labels stay few whatever clients send.
- ``exchange_http_request_duration_seconds{route}``: handling time (event streams excepted:
  their "duration" is how long the subscriber stayed).
- ``exchange_objects_ingested_total``: object versions stored (members' and the exchange's own).
- ``exchange_objects_refused_total{reason}``: objects refused in a status resource's
  ``failures``, by a short reason code (``refusal_reason``).
- ``exchange_stream_subscribers``: open event streams, summed over live workers.
- ``exchange_store_objects{state}``: stored object versions, ``live`` or ``withdrawn``,
  counted when ``/metrics`` is scraped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from exchange.models import InsertResult, Status
from exchange.store.base import Store

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"

_CODE = re.compile(r"^\[([a-z0-9-]{1,40})\] ")


def refusal_reason(message: str) -> str:
    """The refusal code a failure message begins with (``[code] …``; RefusalCode), else
    "other". Label values stay few: the codes are a closed list."""
    match = _CODE.match(message)
    return match.group(1) if match else "other"


def multiprocess_dir() -> str | None:
    """The folder workers share their metrics through, when several workers run."""
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """The exchange's metrics for one process. Create one per app (``exchange.web.ops``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir()
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "exchange_http_requests",
            "HTTP requests answered, by method, route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "exchange_http_request_duration_seconds",
            "Time to answer a request, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ingested = Counter(
            "exchange_objects_ingested",
            "Object versions stored",
            registry=r,
        )
        self.refused = Counter(
            "exchange_objects_refused",
            "Objects refused, by reason",
            ["reason"],
            registry=r,
        )
        self.stream_subscribers = Gauge(
            "exchange_stream_subscribers",
            "Open event streams",
            multiprocess_mode="livesum",
            registry=r,
        )
        # Every worker counts its own start, so each one is in the metrics from its first
        # moment (before it has answered anything) and /metrics shows how many started.
        self.worker_starts = Counter(
            "exchange_worker_starts",
            "Worker processes started",
            registry=r,
        )
        self.store_objects = Gauge(
            "exchange_store_objects",
            "Stored object versions (live or withdrawn), at scrape",
            ["state"],
            multiprocess_mode="mostrecent",
            registry=r,
        )

    # --- requests -------------------------------------------------------------------------

    def observe_request(self, method: str, route: str, status: int, seconds: float | None) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        if seconds is not None:
            self.latency.labels(route=route).observe(seconds)

    # --- publish hooks (PublishService.listeners / status_listeners) ---------------------

    async def objects_inserted(self, results: list[InsertResult]) -> None:
        self.ingested.inc(len(results))

    async def status_recorded(self, status: Status) -> None:
        for failure in status.failures:
            self.refused.labels(reason=refusal_reason(failure.message or "")).inc()

    # --- stream subscribers (exchange.web.stream) ------------------------------------------

    def stream_subscriber_added(self) -> None:
        self.stream_subscribers.inc()

    def stream_subscriber_removed(self) -> None:
        self.stream_subscribers.dec()

    @contextmanager
    def stream_subscriber(self) -> Iterator[None]:
        """``with metrics.stream_subscriber(): ...`` around the life of one event stream."""
        self.stream_subscriber_added()
        try:
            yield
        finally:
            self.stream_subscriber_removed()

    # --- scrape ----------------------------------------------------------------------------

    async def refresh_store(self, store: Store) -> None:
        live, withdrawn = await store.objects.count_objects()
        self.store_objects.labels(state="live").set(live)
        self.store_objects.labels(state="withdrawn").set(withdrawn)

    def exposition(self) -> bytes:
        """The text format of every metric: all workers' when several run."""
        if self.multiprocess_dir is not None:
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
                registry, path=self.multiprocess_dir
            )
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))


def mark_process_dead(pid: int, path: str) -> None:
    """Drop a dead worker's live gauges (called by ``exchange serve`` as each worker exits)."""
    prometheus_multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
