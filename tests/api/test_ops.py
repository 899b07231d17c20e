"""Operations endpoints: /healthz, /readyz, /metrics, and metrics summed over several workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from exchange.errors import Refusal, RefusalCode, StoreUnavailable
from exchange.services.metrics import refusal_reason
from exchange.web.keys import SERVICES
from exchange.web.ops import METRICS
from tests.api.conftest import get, post_objects
from tests.conftest import METRICS_TOKEN, LiveServer, free_port, indicator

Samples = list[tuple[str, dict[str, str], float]]


def scrape(base_url: str, token: str | None = METRICS_TOKEN) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(base_url + "/metrics", headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    ]


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        v
        for n, ls, v in samples
        if n == name and all(ls.get(k) == want for k, want in labels.items())
    )


def app_of(server: LiveServer) -> Any:
    assert server.runner is not None
    return server.runner.app


# --- health and readiness -----------------------------------------------------------------------


def test_healthz_answers_without_authentication(server: LiveServer) -> None:
    response = requests.get(server.url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["Content-Type"].startswith("application/json")


def test_readyz_when_database_answers_and_schema_is_current(server: LiveServer) -> None:
    response = requests.get(server.url + "/readyz", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert isinstance(body["schema_version"], int) and body["schema_version"] >= 1


def test_readyz_503_when_database_unreachable(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = app_of(server)[SERVICES].store

    async def down() -> None:
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(store, "ping", down)
    response = requests.get(server.url + "/readyz", timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "connection refused" in body["reason"]
    # Liveness does not depend on the database.
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200


def test_readyz_503_when_migrations_pending(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = app_of(server)[SERVICES].store

    async def behind() -> tuple[int, int]:
        return (0, 1)

    monkeypatch.setattr(store, "schema_version", behind)
    response = requests.get(server.url + "/readyz", timeout=10)
    assert response.status_code == 503
    assert "migrations pending" in response.json()["reason"]


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_count_requests_objects_and_refusals(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    for _ in range(3):
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    assert get(server, "/taxii2/", token=member.token).status_code == 200
    assert requests.get(server.url + "/no/such/path/9f3a", timeout=10).status_code == 404

    status = post_objects(
        server,
        member.token,
        [
            member.sign(indicator("green")),
            member.sign(indicator("green")),
            indicator("green", created_by_ref=member.identity),  # unsigned
        ],
    )
    assert status["success_count"] == 2 and status["failure_count"] == 1

    samples = scrape(server.url)
    requests_total = "exchange_http_requests_total"
    assert total(samples, requests_total, route="/healthz", status="200", method="GET") == 3
    assert total(samples, requests_total, route="/taxii2/", status="200") == 1
    # Unknown paths share one label value, whatever clients send.
    assert total(samples, requests_total, route="unmatched", status="404") == 1
    assert not any("9f3a" in v for _, ls, _ in samples for v in ls.values())
    assert (
        total(
            samples,
            requests_total,
            route="/api/v1/collections/{collection}/objects/",
            status="202",
            method="POST",
        )
        == 1
    )
    assert total(samples, "exchange_http_request_duration_seconds_count", route="/healthz") == 3
    assert (
        total(samples, "exchange_http_request_duration_seconds_bucket", route="/healthz", le="+Inf")
        == 3
    )

    # Two signed objects stored (the exchange's own, e.g. the member's identity, count too).
    assert total(samples, "exchange_objects_ingested_total") >= 2
    assert total(samples, "exchange_objects_refused_total", reason="unsigned") == 1
    assert total(samples, "exchange_stream_subscribers") == 0
    live = total(samples, "exchange_store_objects", state="live")
    assert live >= 2 + 1  # the two indicators and at least the exchange's own identity
    assert total(samples, "exchange_store_objects", state="withdrawn") == 0

    # Counted again on the next scrape, including the first scrape itself.
    again = scrape(server.url)
    assert total(again, requests_total, route="/metrics", status="200") >= 1
    assert total(again, "exchange_objects_ingested_total") == total(
        samples, "exchange_objects_ingested_total"
    )


def test_stream_subscriber_gauge_helpers(server: LiveServer) -> None:
    metrics = app_of(server)[METRICS]
    with metrics.stream_subscriber():
        metrics.stream_subscriber_added()
        assert total(scrape(server.url), "exchange_stream_subscribers") == 2
        metrics.stream_subscriber_removed()
    assert total(scrape(server.url), "exchange_stream_subscribers") == 0


def test_each_app_has_its_own_registry(server: LiveServer, tmp_path: Path) -> None:
    from exchange.app import create_app
    from exchange.config import Settings

    other = create_app(Settings(db=f"sqlite:///{tmp_path / 'other.db'}"))
    assert other[METRICS].registry is not app_of(server)[METRICS].registry


@pytest.mark.parametrize("code", list(RefusalCode))
def test_refusals_are_counted_by_their_code(code: RefusalCode) -> None:
    assert refusal_reason(Refusal(code, "a message naming ids [x] and keys").text) == code.value


@pytest.mark.parametrize("message", ["something new", "[Not A Code] x", "unsigned: [unsigned]"])
def test_messages_without_a_code_count_as_other(message: str) -> None:
    assert refusal_reason(message) == "other"


# --- several workers ----------------------------------------------------------------------------


def wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exchange serve exited with {process.returncode}")
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("exchange serve did not become healthy")


def test_metrics_aggregate_over_two_workers(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),  # the metrics folder `exchange serve` makes goes here
        "EXCHANGE_LOG_LEVEL": "warning",
        "EXCHANGE_METRICS_TOKEN": METRICS_TOKEN,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("EXCHANGE_CONFIG", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchange",
            "serve",
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_healthy(url, process)
        # Wait until both workers have started (each counts its start in the shared metrics,
        # whichever worker answers the scrape); then make requests on fresh connections.
        deadline = time.monotonic() + 60
        while total(scrape(url), "exchange_worker_starts_total") < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.2)
        made = 0
        for _ in range(40):
            assert requests.get(url + "/readyz", timeout=10).status_code == 200
            made += 1
        # Each scrape lands on either worker and must show every request, whichever worker
        # answered it: per-worker counts would fall short.
        for _ in range(6):
            samples = scrape(url)
            answered = total(samples, "exchange_http_requests_total", route="/readyz", status="200")
            assert answered >= made
            assert (
                total(samples, "exchange_http_request_duration_seconds_count", route="/readyz")
                >= made
            )
        assert total(samples, "exchange_stream_subscribers") == 0
        assert total(samples, "exchange_store_objects", state="live") >= 1
        # Both workers started and wrote metric files into the folder `exchange serve` made,
        # whichever of them the kernel gave the connections to (each counts its own start).
        assert total(samples, "exchange_worker_starts_total") == 2
        folders = list(tmp_path.glob("exchange-metrics-*"))
        assert len(folders) == 1
        pids = {p.name.rsplit("_", 1)[-1].split(".")[0] for p in folders[0].glob("counter_*.db")}
        assert len(pids) == 2, pids
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, err.decode(errors="replace")
    assert not list(tmp_path.glob("exchange-metrics-*")), "the metrics folder is removed"


def test_example_config_documents_every_setting() -> None:
    """deploy/exchange.example.toml names every Settings field, and loads as it stands."""
    import re

    from exchange.config import Settings, load_settings

    path = Path(__file__).resolve().parents[2] / "deploy" / "exchange.example.toml"
    text = path.read_text("utf-8")
    named = set(re.findall(r"^#? ?(\w+) = ", text, re.MULTILINE))
    assert set(Settings.model_fields) <= named, set(Settings.model_fields) - named
    assert load_settings(str(path)).log_format == "json"
