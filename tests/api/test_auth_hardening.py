"""Authentication hardening through HTTP: limits on failed authentication (per address, per
member) and on expensive requests, refused requests in the audit log (coalesced, no secrets),
security headers on every response, and TLS (``exchange serve --tls-cert --tls-key``)."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from exchange.config import Settings
from exchange.crypto import self_signed_certificate
from exchange.models import AuditOutcome
from exchange.services.audit import RefusalAudit
from tests.api.conftest import post_objects, post_raw
from tests.conftest import (
    TAXII,
    LiveServer,
    cli_json,
    free_port,
    indicator,
    run_cli,
    within_one_rate_window,
)

OBJECTS = "collections/bulletins/objects/"


def live(db_url: str, **settings: Any) -> LiveServer:
    server = LiveServer(Settings(db=db_url, port=free_port(), **settings))
    server.start()
    return server


@pytest.fixture
def guarded(db_url: str) -> Iterator[LiveServer]:
    server = live(
        db_url,
        auth_failures_per_minute=3,
        expensive_rate_limit_per_minute=2,
        audit_window_seconds=600,
    )
    yield server
    server.stop()


def taxii_get(server: LiveServer, path: str, token: str | None = None) -> requests.Response:
    headers = {"Accept": TAXII}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.get(server.api_root + path, headers=headers, timeout=10)


def audit_entries(db_url: str, *flags: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = cli_json("admin", "audit", "--db", db_url, *flags)["entries"]
    return [e for e in entries if e["outcome"] == AuditOutcome.REFUSED.value]


def wait_for_audit(db_url: str, want: int, *flags: str) -> list[dict[str, Any]]:
    """The refused entries, once at least ``want`` were written (they go in batches)."""
    deadline = time.monotonic() + 10
    while True:
        entries = audit_entries(db_url, *flags)
        if len(entries) >= want or time.monotonic() > deadline:
            return entries
        time.sleep(0.2)


# --- failed authentication -----------------------------------------------------------------


def test_failed_authentication_is_limited_per_address(
    guarded: LiveServer, make_member: Any
) -> None:
    member = make_member()
    within_one_rate_window()
    codes = [taxii_get(guarded, "collections/", "wrong-token").status_code for _ in range(3)]
    assert codes == [401] * 3
    refused = taxii_get(guarded, "collections/", "another-guess")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["http_status"] == "429"
    assert "failed authentications" in refused.json()["description"]
    # past the limit, credentials from this address are not even looked at, good ones too
    assert taxii_get(guarded, "collections/", member.token).status_code == 429
    # anonymous reading of the public collection goes on
    assert taxii_get(guarded, "collections/").status_code == 200


def test_refusals_are_limited_per_member(db_url: str, make_member: Any) -> None:
    reader = make_member(read_only=True)
    other = make_member()
    server = live(db_url, auth_failures_per_minute=3)
    try:
        body = json.dumps({"objects": [reader.sign(indicator("green"))]})
        within_one_rate_window()
        codes = [post_raw(server, reader.token, body).status_code for _ in range(3)]
        assert codes == [403] * 3
        refused = taxii_get(server, "collections/", reader.token)
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        # the limit is the member's, not the address's
        assert taxii_get(server, "collections/", other.token).status_code == 200
    finally:
        server.stop()


def test_expensive_requests_have_their_own_limit(guarded: LiveServer, make_member: Any) -> None:
    member = make_member()
    within_one_rate_window()
    for _ in range(2):
        post_objects(guarded, member.token, [member.sign(indicator("green"))])
    refused = post_raw(
        guarded, member.token, json.dumps({"objects": [member.sign(indicator("green"))]})
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # reading stays open
    assert taxii_get(guarded, OBJECTS, member.token).status_code == 200


# --- refused requests in the audit log -----------------------------------------------------


def test_refused_requests_are_audited_coalesced_and_without_secrets(
    db_url: str, make_member: Any
) -> None:
    member = make_member()
    server = live(db_url, audit_window_seconds=600)
    bad_token = "not-a-token-but-a-secret-guess-" + "x" * 20
    try:
        for _ in range(20):  # the same refusal again and again: one entry (for now)
            assert taxii_get(server, "collections/", bad_token).status_code == 401
        assert taxii_get(server, "collections/bulletins/").status_code == 401  # anonymous
        good = member.sign(indicator("green"))
        unsigned = indicator("green", created_by_ref=member.identity)
        status = post_objects(server, member.token, [good, unsigned])
        assert status["failure_count"] == 1
        entries = wait_for_audit(db_url, 3)
    finally:
        server.stop()  # writes the open window's repeats
    entries = audit_entries(db_url)
    text = json.dumps(entries)
    assert bad_token not in text and member.token not in text
    assert unsigned["id"] not in text  # what the objects held stays out
    bad = [e for e in entries if e["reason"] == "the token is unknown or revoked"]
    assert [e["actor"] for e in bad] == ["address:127.0.0.1"] * 2
    assert bad[0]["action"] == "GET /api/v1/collections/"
    assert bad[0]["details"]["status"] == "401"
    assert bad[1]["details"]["repeats"] == "19"
    anonymous = [e for e in entries if e["action"] == "GET /api/v1/collections/{collection}/"]
    assert anonymous and anonymous[0]["details"]["status"] == "401"
    posted = [e for e in entries if e["actor"] == f"member:{member.id}"]
    assert len(posted) == 1
    assert posted[0]["action"] == "POST /api/v1/collections/{collection}/objects/"
    assert posted[0]["reason"].startswith("1 of 2 objects refused: ")
    assert posted[0]["member"] == member.id
    # readable per member, as the CLI offers
    assert [e["actor"] for e in audit_entries(db_url, "--member", member.id)] == [
        f"member:{member.id}"
    ]
    # and in the table form
    code, out, _ = run_cli("admin", "audit", "--db", db_url)
    assert code == 0 and "address:127.0.0.1" in out


async def test_a_flood_of_refusals_is_a_bounded_number_of_writes(db_url: str) -> None:
    """Thousands of different callers in one window cost at most 2 * max_keys + 1 rows."""
    from exchange.store.base import open_store

    store = open_store(db_url)
    await store.open()
    try:
        audit = RefusalAudit(store, window_seconds=600, max_keys=10)
        for i in range(5000):
            audit.refused(f"address:10.0.{i // 256}.{i % 256}", "GET /", "the token is unknown")
            audit.refused(f"address:10.0.{i // 256}.{i % 256}", "GET /", "the token is unknown")
        await audit.flush()
        await audit.stop()
        rows = [r for r in await store.audit.list_audit() if r.outcome is AuditOutcome.REFUSED]
    finally:
        await store.close()
    assert 10 < len(rows) <= 2 * 10 + 1
    assert rows[-1].actor == "exchange" and rows[-1].details["dropped"] == str(2 * 4990)


# --- security headers ----------------------------------------------------------------------


def test_security_headers_on_every_response(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    auth = {"Authorization": f"Bearer {member.token}", "Accept": TAXII}
    answers = {
        "discovery": requests.get(server.url + "/taxii2/", timeout=10),
        "member": requests.get(server.api_root + "collections/", headers=auth, timeout=10),
        "401": requests.get(
            server.api_root + "keys/", headers={"Authorization": "Bearer nope"}, timeout=10
        ),
        "404": requests.get(server.url + "/nothing/here/", timeout=10),
        "page": requests.get(server.url + "/", timeout=10),
        "health": requests.get(server.url + "/healthz", timeout=10),
    }
    for name, response in answers.items():
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        assert headers["X-Frame-Options"] == "DENY", name
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, name
        assert "script-src" not in csp, name
        assert "Strict-Transport-Security" not in headers, name  # plain HTTP
    assert "style-src 'self'" in answers["page"].headers["Content-Security-Policy"]
    for name in ("member", "401"):
        assert answers[name].headers["Cache-Control"] == "no-store", name
    # the event stream too
    with requests.get(
        server.api_root + "collections/bulletins/events/",
        headers={"Authorization": f"Bearer {member.token}"},
        stream=True,
        timeout=10,
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["Cache-Control"] == "no-store"
        assert stream.headers["X-Content-Type-Options"] == "nosniff"


# --- TLS -----------------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = self_signed_certificate("127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert)
    key_path.write_bytes(key)
    return cert_path, key_path


def test_tls(db_url: str, make_member: Any, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    member = make_member()
    server = live(db_url, tls_cert=str(cert), tls_key=str(key))
    base = f"https://127.0.0.1:{server.settings.port}"
    try:
        answer = requests.get(
            base + "/api/v1/collections/",
            headers={"Authorization": f"Bearer {member.token}", "Accept": TAXII},
            verify=str(cert),
            timeout=10,
        )
        assert answer.status_code == 200
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
        assert {c["alias"] for c in answer.json()["collections"]} == {"bulletins", "public"}
        discovery = requests.get(base + "/taxii2/", verify=str(cert), timeout=10).json()
        assert discovery["api_roots"][0].startswith("https://127.0.0.1:")
        # TLS 1.1 and older are refused
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(str(cert))
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with (
            pytest.raises((ssl.SSLError, OSError)),
            socket.create_connection(("127.0.0.1", server.settings.port), timeout=5) as raw,
            old.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            pass
        # TLS 1.2 is enough
        tls12 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls12.load_verify_locations(str(cert))
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with (
            socket.create_connection(("127.0.0.1", server.settings.port), timeout=5) as raw,
            tls12.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() == "TLSv1.2"
        # plain HTTP on the TLS port gets no answer
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{server.settings.port}/taxii2/", timeout=5)
    finally:
        server.stop()


def test_tls_needs_both_files_that_hold_a_certificate_and_key(
    db_url: str, tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = tls_files
    code, _, err = run_cli("serve", "--db", db_url, "--tls-cert", str(cert))
    assert code == 1 and "tls_cert and tls_key go together" in err and len(err.splitlines()) == 1
    port = str(free_port())
    code, _, err = run_cli(
        "serve", "--db", db_url, "--port", port, "--tls-cert", str(key), "--tls-key", str(key)
    )
    assert code == 1 and "do not hold a PEM certificate" in err, err
    missing = str(tmp_path / "missing.pem")
    code, _, err = run_cli(
        "serve", "--db", db_url, "--port", port, "--tls-cert", missing, "--tls-key", str(key)
    )
    assert code == 1 and "missing.pem" in err and len(err.strip().splitlines()) == 1, err


def test_a_tls_handshake_is_on_the_header_clock(db_url: str, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server = live(db_url, tls_cert=str(cert), tls_key=str(key), header_timeout_seconds=0.5)
    try:
        with socket.create_connection(("127.0.0.1", server.settings.port), timeout=5) as raw:
            raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and then nothing
            started = time.monotonic()
            assert raw.recv(100) == b""  # closed by the server
            assert time.monotonic() - started < 4
    finally:
        server.stop()


def test_stop_writes_what_was_buffered(db_url: str) -> None:
    """Refusals noted just before shutdown are not lost."""
    server = live(db_url, audit_window_seconds=600)
    try:
        assert taxii_get(server, "keys/", "nope").status_code == 401
    finally:
        server.stop()
    assert any(e["action"] == "GET /api/v1/keys/" for e in audit_entries(db_url))


def test_operator_token_guesses_count_as_failed_authentication(db_url: str) -> None:
    server = live(db_url, auth_failures_per_minute=2, metrics_token="operator-token-long-enough")
    try:
        within_one_rate_window()
        guesses = [
            requests.get(
                server.url + "/metrics", headers={"Authorization": "Bearer guess"}, timeout=10
            ).status_code
            for _ in range(3)
        ]
        assert guesses == [401, 401, 429]
        right = requests.get(
            server.url + "/metrics",
            headers={"Authorization": "Bearer operator-token-long-enough"},
            timeout=10,
        )
        assert right.status_code == 429  # past the limit even the right token waits
    finally:
        server.stop()
