"""SIGKILL during concurrent ingest, again and again, on both stores.

Posters keep posting signed envelopes while ``exchange serve`` is killed with SIGKILL at a
random moment, three times (``bench/crash.py`` does it twenty times and more). After every
restart:

- every object whose POST answered ``complete`` is served, byte for byte as signed, and
  its signature verifies;
- nothing is half-stored: ``exchange admin check`` (SQLite's ``PRAGMA integrity_check``
  and the exchange's consistency queries: audience rows, ends, heads, markings, the clock)
  finds nothing, and every stored status resource's successes are served.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from exchange.crypto import verify_object_signature
from tests.api.test_durability import serve
from tests.conftest import (
    STORES,
    TAXII,
    cli_json,
    free_port,
    fresh_database,
    indicator,
)

HEADERS = {"Accept": TAXII, "Content-Type": TAXII}
KILLS = 3


@pytest.fixture(params=STORES)
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


class Posters:
    """Threads posting envelopes of signed indicators until stopped; they record what the
    server acknowledged as ``complete``."""

    def __init__(self, port: int, members: list[Any]) -> None:
        self.url = f"http://127.0.0.1:{port}/api/v1/collections/bulletins/objects/"
        self.members = members
        self.acknowledged: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._post, args=(m,), daemon=True) for m in members
        ]

    def _post(self, member: Any) -> None:
        while not self.stopping.is_set():
            objects = [member.sign(indicator("green")) for _ in range(random.randint(1, 8))]
            try:
                answer = requests.post(
                    self.url,
                    data=json.dumps({"objects": objects}),
                    headers={**HEADERS, "Authorization": f"Bearer {member.token}"},
                    timeout=20,
                )
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if answer.status_code == 202 and answer.json().get("status") == "complete":
                done = {s["id"] for s in answer.json().get("successes", [])}
                with self.lock:
                    self.acknowledged.update({o["id"]: o for o in objects if o["id"] in done})

    def __enter__(self) -> Posters:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(30)


def served(port: int, token: str) -> dict[str, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/collections/bulletins/objects/"
    params: dict[str, str] = {"limit": "500", "match[type]": "indicator"}
    out: dict[str, dict[str, Any]] = {}
    while True:
        page = requests.get(
            url, params=params, headers={**HEADERS, "Authorization": f"Bearer {token}"}, timeout=30
        )
        assert page.status_code == 200, page.text
        body = page.json()
        out.update({o["id"]: o for o in body.get("objects", [])})
        if not body.get("more"):
            return out
        params = {"limit": "500", "match[type]": "indicator", "next": body["next"]}


def test_repeated_sigkill_during_concurrent_ingest(db_url: str, make_member: Any) -> None:
    members = [make_member() for _ in range(3)]
    keys = {m.identity: m.key.public for m in members}
    port = free_port()
    acknowledged: dict[str, dict[str, Any]] = {}
    for _ in range(KILLS):
        with serve(db_url, port) as proc, Posters(port, members) as posters:
            # kill mid-ingest: once posts are flowing, at a random moment
            deadline = time.monotonic() + 60
            while not posters.acknowledged and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(random.uniform(0.1, 1.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        acknowledged.update(posters.acknowledged)
        check = cli_json("admin", "check", "--db", db_url)
        assert check == {"ok": True, "problems": []}, check
    assert acknowledged, "no post was acknowledged before the kills"
    with serve(db_url, port):
        stored = served(port, members[0].token)
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} acknowledged object(s) lost"
    for stix_id, obj in acknowledged.items():
        assert stored[stix_id] == obj, "served other bytes than were signed"
        verify_object_signature(stored[stix_id], keys[obj["created_by_ref"]])
