"""Helpers for the HTTP-level tests: raw TAXII requests, STIX validation of everything the
exchange serves, timestamps, and an exchange that can be restarted on the same database."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import ApiRoot, Collection, Server

from exchange.config import Settings
from tests.api.peer_proxy import Rewrite, RewritingProxy
from tests.conftest import (
    TAXII,
    LiveServer,
    audience_marking,
    free_port,
    indicator,
    new_sqlite_db,
)

if TYPE_CHECKING:
    from tests.conftest import TestMember

MAX_CONTENT_LENGTH = 256 * 1024
TAXII_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_OPTIONS = ValidationOptions(version="2.1")


# --- STIX validation -------------------------------------------------------------------------


def assert_stix_valid(obj: dict[str, Any]) -> None:
    """stix2-validator (STIX 2.1) accepts ``obj``."""
    result = validate_instance(obj, _OPTIONS)
    assert result.is_valid, (obj.get("id"), [str(e) for e in result.errors])


def valid_objects(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of one served envelope, each checked with stix2-validator."""
    objects = envelope.get("objects", [])
    assert isinstance(objects, list)
    for obj in objects:
        assert_stix_valid(obj)
    return objects


def walk(pages: Iterable[dict[str, Any]], key: str = "objects", stix: bool = True) -> list[Any]:
    """Every item of every page (STIX objects validated)."""
    out: list[Any] = []
    for page in pages:
        out.extend(valid_objects(page) if stix and key == "objects" else page.get(key, []))
    return out


# --- timestamps ------------------------------------------------------------------------------


def ts(value: datetime) -> str:
    """A STIX timestamp with millisecond precision."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse(text: str) -> datetime:
    value = text[:-1] if text.endswith("Z") else text
    if "." in value:
        head, frac = value.split(".")
        value = head + "." + frac[:6].ljust(6, "0")
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def later(seconds: float) -> str:
    return ts(datetime.now(UTC) + timedelta(seconds=seconds))


# --- raw HTTP --------------------------------------------------------------------------------


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def objects_url(server: LiveServer, collection: str = "bulletins") -> str:
    return f"{server.api_root}collections/{collection}/objects/"


def get(
    server: LiveServer,
    path: str,
    token: str | None = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """GET ``path`` (relative to the API root, or absolute from ``/``)."""
    url = server.url + path if path.startswith("/") else server.api_root + path
    merged = {"Accept": TAXII, **bearer(token), **(headers or {})}
    return requests.get(url, params=params, headers=merged, timeout=30)


def post_raw(
    server: LiveServer,
    token: str | None,
    body: bytes | str | Iterator[bytes],
    collection: str = "bulletins",
    content_type: str = TAXII,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    merged = {"Accept": TAXII, "Content-Type": content_type, **bearer(token), **(headers or {})}
    data = body.encode("utf-8") if isinstance(body, str) else body
    return requests.post(objects_url(server, collection), data=data, headers=merged, timeout=30)


def post_objects(
    server: LiveServer, token: str, objects: list[dict[str, Any]], collection: str = "bulletins"
) -> dict[str, Any]:
    """POST an envelope; the (complete) status resource."""
    response = post_raw(server, token, json.dumps({"objects": objects}), collection)
    assert response.status_code == 202, response.text
    assert response.headers["Content-Type"] == TAXII
    status: dict[str, Any] = response.json()
    assert status["status"] == "complete"
    assert status["total_count"] == len(objects)
    return status


def failures(status: dict[str, Any]) -> dict[str, str]:
    return {f["id"]: f["message"] for f in status.get("failures", [])}


def successes(status: dict[str, Any]) -> set[str]:
    return {s["id"] for s in status.get("successes", [])}


def assert_taxii_error(response: requests.Response, status: int) -> dict[str, Any]:
    """A TAXII error message with the right status, media type and http_status."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"] == TAXII
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("title"), str) and body["title"]
    assert body.get("http_status") == str(status)
    if status == 401:
        assert response.headers.get("WWW-Authenticate")
    return body


# --- taxii2-client ---------------------------------------------------------------------------


def api_root(server: LiveServer, token: str | None = None) -> ApiRoot:
    if token is None:
        found = Server(server.url + "/taxii2/").api_roots
    else:
        found = Server(server.url + "/taxii2/", user="x", password=token).api_roots
    assert len(found) == 1
    return found[0]


def collection(server: LiveServer, token: str | None, alias: str = "bulletins") -> Collection:
    return next(c for c in api_root(server, token).collections if c.alias == alias)


# --- objects ---------------------------------------------------------------------------------


def restricted(
    author: TestMember, readers: list[str], tlp: str = "amber", **props: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A signed audience marking for ``readers`` and a signed indicator under it."""
    marking = author.sign(audience_marking(readers))
    obj = author.sign(indicator(tlp, extra_markings=(marking["id"],), **props))
    return marking, obj


# --- a restartable exchange ------------------------------------------------------------------


class Restartable:
    """An exchange on one database and port that a test can stop and start again."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.live: LiveServer | None = None

    def start(self) -> LiveServer:
        settings = Settings(db=self.db_url, port=self.port, max_content_length=MAX_CONTENT_LENGTH)
        self.live = LiveServer(settings)
        self.live.start()
        return self.live

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()


@pytest.fixture
def restartable(db_url: str) -> Iterator[Restartable]:
    exchange = Restartable(db_url)
    exchange.start()
    try:
        yield exchange
    finally:
        exchange.stop()


@pytest.fixture
def vectors() -> dict[str, Any]:
    path = Path(__file__).resolve().parents[1] / "assets" / "signing.json"
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


# --- federation: exchanges on loopback that pull from one another ----------------------

FEDERATION_PULL = 0.3  # seconds between pulls of a peer


def start_exchange(db: str) -> LiveServer:
    live = LiveServer(
        Settings(db=db, port=free_port(), peer_pull_seconds=FEDERATION_PULL, log_head_seconds=0.2)
    )
    live.start()
    return live


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[[str], tuple[str, LiveServer]]]:
    started: list[LiveServer] = []

    def make(name: str) -> tuple[str, LiveServer]:
        db = new_sqlite_db(tmp_path / f"{name}.db")
        live = start_exchange(db)
        started.append(live)
        return db, live

    yield make
    for live in started:
        live.stop()


@pytest.fixture
def proxies() -> Iterator[Callable[[LiveServer, Rewrite], RewritingProxy]]:
    """Hostile peers: ``proxies(server, rewrite)`` puts a RewritingProxy in front of one."""
    made: list[RewritingProxy] = []

    def make(upstream: LiveServer, rewrite: Rewrite) -> RewritingProxy:
        proxy = RewritingProxy(upstream, rewrite)
        proxy.start()
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.stop()
