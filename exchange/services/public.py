"""Public bulletins: the TLP:CLEAR ``report`` objects, for the web pages and the feeds.

Everything here is read through ``ReadService`` as the anonymous reader of the ``public``
collection, the very path an anonymous TAXII client takes: the same sharing rules decide
(TLP:CLEAR only, withdrawn versions gone, outbound standing rules applied, nothing a
report references shown unless it is readable there too). No query of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from exchange.crypto import VerifyKey, signature_block, verify_object_signature
from exchange.errors import InvalidInput, NotFound, SignatureError
from exchange.models import key_window_problem
from exchange.policy import ANONYMOUS
from exchange.services.read import PUBLIC, Collection, ReadService, find_collection
from exchange.store.base import Store
from exchange.timeutil import format_ts, now, parse_ts

PAGE_SIZE = 20
FEED_SIZE = 50
FEED_NAME = "public-bulletins"  # both feeds carry the same bulletins
# The public pages read at most this many bulletins (newest first is sorted in memory).
MAX_BULLETINS = 10_000
_REF_CHUNK = 100
_LANG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
_STIX_ID = re.compile(r"^[a-z0-9][a-z0-9-]*--[0-9a-fA-F-]{36}$")
_REPORT_ID = re.compile(r"^report--[0-9a-fA-F-]{36}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Characters XML 1.0 does not allow, and lone surrogates (which UTF-8 cannot encode).
UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """``text`` without what no page or feed can carry."""
    return UNPRINTABLE.sub("", text)


def _text(value: Any) -> str:
    return printable(value) if isinstance(value, str) else ""


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(printable(v) for v in value if isinstance(v, str))


def _time(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return parse_ts(value)
        except InvalidInput:
            return fallback
    return fallback


def language(value: Any) -> str | None:
    """A BCP 47 language tag as the page's ``lang``, or None when there is none."""
    return value if isinstance(value, str) and _LANG.match(value) else None


@dataclass(frozen=True)
class Bulletin:
    """One TLP:CLEAR report, as the public pages show it."""

    id: str
    title: str
    description: str
    report_types: tuple[str, ...]
    labels: tuple[str, ...]
    published: datetime
    modified: datetime
    date_added: str
    lang: str | None
    publisher: str | None  # the identity id of created_by_ref
    object_refs: tuple[str, ...]
    body: Mapping[str, Any]

    @classmethod
    def from_stored(cls, body: str, date_added: str) -> Bulletin:
        value: dict[str, Any] = json.loads(body)
        created = _time(value.get("created"), _EPOCH)
        modified = _time(value.get("modified"), created)
        return cls(
            id=str(value["id"]),
            title=_text(value.get("name")) or "(untitled)",
            description=_text(value.get("description")),
            report_types=_strings(value.get("report_types")),
            labels=_strings(value.get("labels")),
            published=_time(value.get("published"), created),
            modified=modified,
            date_added=date_added,
            lang=language(value.get("lang")),
            publisher=value.get("created_by_ref")
            if isinstance(value.get("created_by_ref"), str)
            else None,
            object_refs=_strings(value.get("object_refs")),
            body=value,
        )

    def matches(self, words: Sequence[str]) -> bool:
        """Every word occurs (case-insensitively) in the title, description, types or labels."""
        haystack = " ".join(
            (self.title, self.description, *self.report_types, *self.labels)
        ).casefold()
        return all(w in haystack for w in words)


@dataclass(frozen=True)
class Signature:
    verified: bool
    reason: str  # why not, or which key verified it


@dataclass(frozen=True)
class Reference:
    """A referenced object that is public too."""

    id: str
    type: str
    name: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class BulletinDetail:
    bulletin: Bulletin
    publisher_name: str | None  # the name of the author's identity where it is TLP:CLEAR
    signature: Signature
    references: tuple[Reference, ...]
    withheld: int  # references not shown (not public, or not held)


@dataclass(frozen=True)
class BulletinPage:
    items: tuple[Bulletin, ...]
    total: int
    page: int
    pages: int
    types: tuple[str, ...]  # every report type among the public bulletins (the type filter)


def search_words(q: str) -> tuple[str, ...]:
    return tuple(w.casefold() for w in q.split()[:20] if w)


class PublicService:
    def __init__(self, store: Store, read: ReadService) -> None:
        self.store = store
        self.read = read
        self.collection: Collection = find_collection(PUBLIC)

    async def _objects(self, params: dict[str, list[str]], cap: int) -> list[tuple[str, str]]:
        """(body, date_added) of every object the anonymous reader reads with ``params``."""
        out: list[tuple[str, str]] = []
        query: Mapping[str, Sequence[str]] = dict(params, limit=[str(self.read.max_limit)])
        while True:
            page = await self.read.objects(ANONYMOUS, self.collection, query)
            out.extend((o.body, o.date_added) for o in page.objects)
            if not page.more or page.next is None or len(out) >= cap:
                return out[:cap]
            query = {"next": [page.next], "limit": [str(self.read.max_limit)]}

    async def bulletins(self) -> list[Bulletin]:
        """Every public bulletin, newest first (by ``published``, then by arrival)."""
        stored = await self._objects({"match[type]": ["report"]}, MAX_BULLETINS)
        found = [Bulletin.from_stored(body, added) for body, added in stored]
        found.sort(key=lambda b: (b.published, b.date_added), reverse=True)
        return found

    async def page(self, q: str = "", report_type: str = "", page: int = 1) -> BulletinPage:
        everything = await self.bulletins()
        types = tuple(sorted({t for b in everything for t in b.report_types}))
        words = search_words(q)
        chosen = [
            b
            for b in everything
            if (not words or b.matches(words))
            and (not report_type or report_type in b.report_types)
        ]
        pages = max(1, -(-len(chosen) // PAGE_SIZE))
        page = min(max(page, 1), pages)
        start = (page - 1) * PAGE_SIZE
        return BulletinPage(
            items=tuple(chosen[start : start + PAGE_SIZE]),
            total=len(chosen),
            page=page,
            pages=pages,
            types=types,
        )

    async def feed(self) -> list[Bulletin]:
        return (await self.bulletins())[:FEED_SIZE]

    async def feed_modified(self, items: Sequence[Bulletin]) -> datetime:
        """The feeds' Last-Modified: when they began carrying exactly these bulletin versions,
        on whole seconds and later than every earlier change (a withdrawal, a new rule or a
        new version changes it, though none of them dates the feed)."""
        digest = hashlib.sha256(
            "\n".join(f"{b.id} {b.date_added}" for b in items).encode("utf-8")
        ).hexdigest()
        found = await self.store.counters.feed_version(FEED_NAME)
        if found is not None and found[0] == digest:
            return parse_ts(found[1])
        moment = now().replace(microsecond=0)
        if found is not None:
            moment = max(moment, parse_ts(found[1]) + timedelta(seconds=1))
        await self.store.counters.set_feed_version(FEED_NAME, digest, format_ts(moment))
        return moment

    async def _one(self, stix_id: str) -> tuple[str, str] | None:
        try:
            result = await self.read.object(ANONYMOUS, self.collection, stix_id, {})
        except (NotFound, InvalidInput):
            return None
        if not result.objects:
            return None
        latest = result.objects[-1]
        return latest.body, latest.date_added

    async def detail(self, stix_id: str) -> BulletinDetail:
        """One public bulletin with what it references that is public too."""
        found = await self._one(stix_id) if _REPORT_ID.match(stix_id) else None
        if found is None:
            raise NotFound(f"no public bulletin {stix_id}")
        bulletin = Bulletin.from_stored(*found)
        references: list[Reference] = []
        wanted = [
            r for r in dict.fromkeys(bulletin.object_refs) if r != bulletin.id and _STIX_ID.match(r)
        ]
        for start in range(0, len(wanted), _REF_CHUNK):
            chunk = wanted[start : start + _REF_CHUNK]
            for body, _ in await self._objects({"match[id]": [",".join(chunk)]}, len(chunk)):
                value: dict[str, Any] = json.loads(body)
                references.append(
                    Reference(
                        id=str(value["id"]),
                        type=str(value["type"]),
                        name=_text(value.get("name")) or _text(value.get("abstract")),
                        body=value,
                    )
                )
        order = {ref: i for i, ref in enumerate(wanted)}
        references.sort(key=lambda r: order.get(r.id, len(order)))
        publisher_name = None
        if bulletin.publisher is not None:
            identity = await self._one(bulletin.publisher)
            if identity is not None:
                publisher_name = _text(json.loads(identity[0]).get("name")) or None
        return BulletinDetail(
            bulletin=bulletin,
            publisher_name=publisher_name,
            signature=await self.verify(bulletin.body),
            references=tuple(references),
            withheld=len(wanted) - len(references),
        )

    async def verify(self, obj: Mapping[str, Any]) -> Signature:
        """Whether the object's signature verifies against the key directory: the key is
        registered to the author, valid at the object's version time, and the bytes match."""
        value = dict(obj)
        block = signature_block(value)
        if block is None or not isinstance(block.get("key_id"), str):
            return Signature(False, "the bulletin is not signed")
        key = await self.store.members.get_key(block["key_id"])
        if key is None:
            return Signature(False, "the signing key is not in the key directory")
        if key.identity != value.get("created_by_ref"):
            return Signature(False, "the signing key is not the publisher's")
        version = _text(value.get("modified")) or _text(value.get("created"))
        problem = key_window_problem(key, _time(version, _EPOCH))
        if problem is not None:
            return Signature(False, problem)
        try:
            verify_object_signature(value, VerifyKey.from_pem(key.public_key))
        except SignatureError as exc:
            return Signature(False, exc.message)
        return Signature(True, f"Ed25519 key {key.key_id[:16]}…")
