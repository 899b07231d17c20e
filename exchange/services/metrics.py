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

# Refusal messages name ids and keys; the metric takes a short code instead, so its label
# values stay few. First match wins (lowercase substrings of the message); else "other".
REFUSAL_REASONS: tuple[tuple[str, str], ...] = (
    ("unsigned", "unsigned"),
    ("built into the exchange", "tlp_definition"),
    ("has no key_id", "unknown_key"),
    ("unknown key", "unknown_key"),
    ("bad signature", "bad_signature"),
    ("signature", "bad_signature"),
    (" revoked since ", "key_revoked"),
    (" expired at ", "key_expired"),
    (" is not valid before ", "key_not_yet_valid"),
    (" is not a key of ", "key_not_author"),
    ("created_by_ref", "author"),
    ("published by another author", "authorship"),
    ("a different object with this id and version", "conflict"),
    ("invalid stix", "invalid_stix"),
    ("not a json object", "invalid_stix"),
    ("stix identifier", "invalid_stix"),
    ("does not match type", "invalid_stix"),
    ("'type' and 'id'", "invalid_stix"),
    ("spec_version", "invalid_stix"),
    ("timestamp", "invalid_stix"),
    ("relay", "relay"),
    ("re-posted", "relay"),
    ("audience", "audience"),
    ("tlp", "marking"),
    ("marking", "marking"),
)


def refusal_reason(message: str) -> str:
    """A short, stable code for a refusal message."""
    text = message.lower()
    for needle, code in REFUSAL_REASONS:
        if needle in text:
            return code
    return "other"


def multiprocess_dir() -> str | None:
    """The folder workers share their metrics through, when several workers run."""
    return os.environ.get(MULTIPROC_ENV) or None


async def count_objects(store: Store) -> tuple[int, int] | None:
    """(live, withdrawn) object versions, or None for a store without SQL access."""
    from exchange.store.sql import SqlStore

    if not isinstance(store, SqlStore):
        return None
    async with store.transaction() as tx:
        row = await tx.fetchone("SELECT COUNT(*), COUNT(deleted_at) FROM objects")
    total, withdrawn = (int(row[0]), int(row[1])) if row else (0, 0)
    return total - withdrawn, withdrawn


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
        counts = await count_objects(store)
        if counts is not None:
            self.store_objects.labels(state="live").set(counts[0])
            self.store_objects.labels(state="withdrawn").set(counts[1])

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
