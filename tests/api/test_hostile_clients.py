"""Hostile clients, with raw sockets against a live exchange (small limits set here): half
headers and half bodies are cut off, idle connections are closed, one address cannot hold
hundreds of connections; /metrics is for operators only."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from exchange.config import Settings
from tests.api.conftest import assert_taxii_error
from tests.conftest import METRICS_TOKEN, TAXII, LiveServer, free_port

LIMITS = {
    "header_timeout_seconds": 0.5,
    "body_timeout_seconds": 0.5,
    "idle_timeout_seconds": 1.0,
    "max_connections_per_address": 20,
}


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(Settings(db=f"sqlite:///{tmp_path / 'x.db'}", port=free_port(), **LIMITS))
    live.start()
    try:
        yield live
    finally:
        live.stop()


def connect(server: LiveServer, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.settings.port))
    return sock


def closed_within(sock: socket.socket, seconds: float) -> bytes:
    """Everything the server sent before closing, which it must do within ``seconds``."""
    started = time.monotonic()
    got = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        got += chunk
    assert time.monotonic() - started < seconds
    return got


def answered_within(sock: socket.socket, seconds: float) -> bytes:
    """The server's first answer, which must come within ``seconds``."""
    started = time.monotonic()
    got = sock.recv(65536)
    while b"\r\n\r\n" in got and not got.rstrip().endswith(b"}") and len(got) < 4096:
        more = sock.recv(65536)
        if not more:
            break
        got += more
    assert time.monotonic() - started < seconds
    return got


def healthy(server: LiveServer) -> None:
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_half_headers_are_cut_off(guarded: LiveServer) -> None:
    with connect(guarded) as sock:
        sock.sendall(b"GET /taxii2/ HTTP/1.1\r\nHost: x\r\nAccept: ")
        assert closed_within(sock, 5) == b""
    with connect(guarded) as sock:  # nothing at all
        assert closed_within(sock, 5) == b""
    healthy(guarded)


def test_trickled_headers_are_cut_off(guarded: LiveServer) -> None:
    with connect(guarded) as sock:
        started = time.monotonic()
        with pytest.raises(OSError):
            for char in b"GET /taxii2/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                sock.send(bytes([char]))
                time.sleep(0.1)
        assert time.monotonic() - started < 5


def test_half_a_body_is_cut_off_with_408(guarded: LiveServer) -> None:
    with connect(guarded) as sock:
        sock.sendall(
            b"POST /api/v1/collections/bulletins/objects/ HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: " + TAXII.encode() + b"\r\nContent-Length: 1000\r\n\r\n"
            b'{"objects": ['
        )
        answer = answered_within(sock, 5)
    # anonymous: refused before the body matters (401), or the body timed out (408)
    assert answer.split(b" ", 2)[1] in (b"401", b"408"), answer


def test_half_a_chunked_body_of_a_member_gets_408(guarded: LiveServer) -> None:
    from tests.conftest import cli_json

    member = cli_json(
        "admin",
        "member",
        "add",
        "--db",
        guarded.settings.db,
        "--name",
        "m",
        "--kind",
        "private",
        "--sector",
        "financial-services",
        "--economy",
        "DE",
    )
    token = cli_json("admin", "token", "issue", member["id"], "--db", guarded.settings.db)
    with connect(guarded) as sock:
        sock.sendall(
            b"POST /api/v1/collections/bulletins/objects/ HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + token["token"].encode() + b"\r\n"
            b"Accept: " + TAXII.encode() + b"\r\n"
            b"Content-Type: " + TAXII.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'd\r\n{"objects": [\r\n'
        )
        answer = answered_within(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"http_status":"408"' in answer


def test_idle_keep_alive_connections_are_closed(guarded: LiveServer) -> None:
    with connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        assert closed_within(sock, 5) == b""  # idle after its answer: closed


def test_500_idle_connections_do_not_starve_the_server(guarded: LiveServer) -> None:
    socks: list[socket.socket] = []
    try:
        for _ in range(500):
            socks.append(connect(guarded, source="127.0.0.2"))
        time.sleep(0.2)
        # another address is served at once
        started = time.monotonic()
        healthy(guarded)
        assert time.monotonic() - started < 2
        # the address holding them got 503 beyond its cap
        refused = 0
        for sock in socks[-100:]:
            sock.settimeout(5)
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            refused += data.startswith(b"HTTP/1.1 503")
        assert refused >= 50
    finally:
        for sock in socks:
            sock.close()
    # and the rest were closed by the header timeout: the address may connect again
    time.sleep(1.0)
    with connect(guarded, source="127.0.0.2") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert closed_within(sock, 5).startswith(b"HTTP/1.1 200")


# --- /metrics ------------------------------------------------------------------------------


def test_metrics_need_the_operator_token(server: LiveServer, make_member: object) -> None:
    url = server.url + "/metrics"
    assert_taxii_error(requests.get(url, timeout=10), 401)
    assert_taxii_error(
        requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10), 401
    )
    member = make_member()  # type: ignore[operator]
    assert_taxii_error(
        requests.get(url, headers={"Authorization": f"Bearer {member.token}"}, timeout=10), 401
    )
    ok = requests.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert ok.status_code == 200 and "exchange_http_requests_total" in ok.text


def test_metrics_on_a_separate_address(tmp_path: Path) -> None:
    metrics_port = free_port()
    live = LiveServer(
        Settings(db=f"sqlite:///{tmp_path / 'x.db'}", port=free_port(), metrics_port=metrics_port)
    )
    live.start()
    try:
        assert_taxii_error(requests.get(live.url + "/metrics", timeout=10), 404)
        metrics_url = f"http://127.0.0.1:{metrics_port}"
        ok = requests.get(metrics_url + "/metrics", timeout=10)
        assert ok.status_code == 200 and "exchange_http_requests_total" in ok.text
        assert requests.get(metrics_url + "/healthz", timeout=10).status_code == 200
        # the metrics address serves nothing else
        assert requests.get(metrics_url + "/taxii2/", timeout=10).status_code == 404
    finally:
        live.stop()


def test_serve_options_reach_the_settings() -> None:
    from exchange.cli import build_parser
    from exchange.config import load_settings

    args = build_parser().parse_args(
        [
            "serve",
            "--header-timeout",
            "2",
            "--body-timeout",
            "3",
            "--idle-timeout",
            "4",
            "--max-connections-per-address",
            "5",
            "--metrics-port",
            "9108",
        ]
    )
    settings = load_settings(
        None,
        **{
            k: getattr(args, k)
            for k in (
                "header_timeout_seconds",
                "body_timeout_seconds",
                "idle_timeout_seconds",
                "max_connections_per_address",
                "metrics_port",
            )
        },
    )
    assert (
        settings.header_timeout_seconds,
        settings.body_timeout_seconds,
        settings.idle_timeout_seconds,
        settings.max_connections_per_address,
        settings.metrics_port,
    ) == (2, 3, 4, 5, 9108)
