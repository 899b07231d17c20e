"""The publish pipeline: every posted object passes one list of checks, then one durable insert.

Each check looks at the objects still standing and refuses some with a reason;
the rest go on. Later issues (transparency log, PII screening, anonymous
submission) add checks or after-insert steps here, nowhere else.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol

from exchange.crypto import SigningKey, sign_object, signature_block, signature_block_problem
from exchange.errors import InvalidInput, Refusal, RefusalCode
from exchange.models import (
    InsertOutcome,
    InsertResult,
    Key,
    Member,
    MemberStatus,
    NewObject,
    Principal,
    ReviewItem,
    RuleDirection,
    RuleEffect,
    Status,
    StatusFailure,
    StatusSuccess,
    Tlp,
    key_window_problem,
)
from exchange.policy import (
    AUDIENCE_EXTENSION_ID,
    ENDS_TYPES,
    RELAYABLE,
    TLP_MARKINGS,
    ObjectFacts,
    object_audience,
    parse_audience_entries,
)
from exchange.services.access import Access
from exchange.services.anonymous import (
    AnonymousSource,
    Sealer,
    anonymous_by_default,
    names_author,
    unsupported,
)
from exchange.services.pii import PiiScreen
from exchange.stix.types import is_observable
from exchange.stix.validate import ValidatorName, cpu_stage, structure_error
from exchange.store.base import Store
from exchange.taxii.envelope import RawObject, split_envelope
from exchange.timeutil import format_ts, normalise_ts, now, parse_ts

CPU_CHUNK = 64


@dataclass
class Candidate:
    """One posted object on its way through the checks."""

    raw: RawObject
    value: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    key: Key | None = None
    author: Member | None = None
    tlp: Tlp | None = None
    audience: tuple[str, ...] = ()
    audience_entries: tuple[str, ...] | None = None
    # created_by_ref; for a cyber-observable (which has none) the signing key's owner
    author_identity: str | None = None

    # what the status says of a stored object (an anonymous copy's id, "stored already")
    note: str | None = None
    # personal data PII screening found, when the poster's rules send it to review
    review: tuple[str, ...] = ()

    @property
    def stix_id(self) -> str:
        value = self.value.get("id") if isinstance(self.value, dict) else None
        return value if isinstance(value, str) and _is_text(value) else "unknown"

    @property
    def version_text(self) -> str | None:
        for name in ("modified", "created"):
            value = self.value.get(name)
            if isinstance(value, str):
                return value if _is_text(value) else None
        return None

    def failure_id(self, index: int) -> str:
        """The id a failure names: the entry's own ``id`` where it has a usable one, else
        where it stood in the envelope (``objects[3]``)."""
        raw = self.raw.value
        value = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(value, str) and _echoable(value, 256):
            return value
        return f"objects[{index}]"

    def failure_version(self, fallback: str) -> str:
        """The version a failure names: the entry's ``modified`` (else ``created``) as
        written where it is a timestamp, else ``fallback`` (the request's timestamp)."""
        raw = self.raw.value
        if isinstance(raw, dict):
            for name in ("modified", "created"):
                value = raw.get(name)
                if isinstance(value, str) and _echoable(value, 64):
                    try:
                        parse_ts(value)
                    except InvalidInput:
                        break
                    return value
        return fallback

    def refuse(self, code: RefusalCode, reason: str) -> None:
        """Refuse with a stable code; the first refusal stands."""
        if self.failure is None:
            self.failure = Refusal(code, reason).text


@dataclass
class Batch:
    poster: Principal
    items: list[Candidate]
    exchange_identity: str
    # An anonymous post (docs/privacy.md): its objects are sealed, and copies published.
    anonymous: bool = False
    anonymous_identity: str | None = None

    @property
    def live(self) -> list[Candidate]:
        return [c for c in self.items if c.failure is None]


class Check(Protocol):
    async def __call__(self, batch: Batch) -> None: ...


def _echoable(text: str, limit: int) -> bool:
    """Short text that encodes as UTF-8 (no lone surrogates), safe to echo in a status."""
    if len(text) > limit or not text.isprintable():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ends(value: dict[str, Any]) -> tuple[str, ...]:
    if value.get("type") == "relationship":
        refs = [value.get("source_ref"), value.get("target_ref")]
    elif value.get("type") == "sighting":
        refs = [
            value.get("sighting_of_ref"),
            *value.get("observed_data_refs", []),
            *value.get("where_sighted_refs", []),
        ]
    else:
        return ()
    return tuple(r for r in refs if isinstance(r, str))


def version_time(value: dict[str, Any]) -> str | None:
    """The version an object writes for itself: ``modified``, else ``created``."""
    for name in ("modified", "created"):
        if isinstance(value.get(name), str):
            return str(value[name])
    return None


def new_object(c: Candidate, poster_member: str | None) -> NewObject:
    """The row to store for an accepted candidate; ``poster_member`` is ``None`` for an
    object imported from a peer (no local member posted it)."""
    value = c.value
    version = c.version_text
    created = value.get("created")
    return NewObject(
        stix_id=c.stix_id,
        type=str(value["type"]),
        spec_version=str(value.get("spec_version", "2.1")),
        version=normalise_ts(version) if version else "",
        version_text=version,
        created=normalise_ts(created) if isinstance(created, str) else None,
        author_identity=c.author_identity,
        poster_member=poster_member,
        tlp=c.tlp,
        audience=c.audience,
        ends=_ends(value),
        markings=tuple(value.get("object_marking_refs", []) or []),
        audience_entries=c.audience_entries,
        key_id=c.key.key_id if c.key is not None else None,
        body=c.raw.text,
    )


def _signing_key_id(value: dict[str, Any]) -> str | None:
    block = signature_block(value)
    key_id = block.get("key_id") if block is not None else None
    return key_id if isinstance(key_id, str) else None


def _is_text(value: str) -> bool:
    """Unicode text: no lone surrogate (which JSON's ``\\ud800`` escapes can make)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(raw: RawObject) -> bool:
    """A string (key or value) of the object holds a lone surrogate: only a ``\\uD8xx``-
    ``\\uDFxx`` escape can make one, and then only an unpaired one fails to encode."""
    if _SURROGATE_ESCAPE.search(raw.text) is None:
        return False
    try:
        json.dumps(raw.value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class StructureCheck:
    """A JSON object with a STIX id of its own type, spec_version 2.1, Unicode text only,
    not nested too deep."""

    async def __call__(self, batch: Batch) -> None:
        for c in batch.live:
            if c.raw.problem is not None:
                c.refuse(*c.raw.problem)
                continue
            if _has_lone_surrogate(c.raw):
                c.value = c.raw.value if isinstance(c.raw.value, dict) else {}
                c.refuse(
                    RefusalCode.INVALID_TEXT,
                    "a string of the object holds a lone UTF-16 surrogate (not Unicode text)",
                )
                continue
            reason = structure_error(c.raw.value)
            if reason is not None:
                c.refuse(RefusalCode.INVALID_STRUCTURE, reason)
            else:
                c.value = c.raw.value
                version = version_time(c.value)
                if version is not None:
                    try:
                        normalise_ts(version)
                    except InvalidInput as exc:
                        c.refuse(RefusalCode.INVALID_TIMESTAMP, exc.message)


def well_formed_signature(c: Candidate) -> dict[str, Any] | None:
    """The candidate's signature extension when it has one that is well formed; else the
    candidate is refused (unsigned, or a malformed extension) and None is returned."""
    block = signature_block(c.value)
    if block is None:
        c.refuse(RefusalCode.UNSIGNED, "unsigned: the object has no signature extension")
        return None
    problem = signature_block_problem(block)
    if problem is not None:
        c.refuse(RefusalCode.SIGNATURE_EXTENSION_INVALID, problem)
        return None
    return block


async def run_cpu_stage(
    items: list[Candidate], executor: Executor | None, validator: ValidatorName
) -> None:
    """STIX validation and the signature check of each candidate (its ``key`` set), in
    chunks off the event loop; refuses those that fail (the local and the peer checks)."""
    loop = asyncio.get_running_loop()
    jobs = []
    for start in range(0, len(items), CPU_CHUNK):
        chunk = items[start : start + CPU_CHUNK]
        # the object's text as posted, not the parsed value: bytes pickle at memcpy speed
        work = [(c.raw.text.encode("utf-8"), c.key.public_key if c.key else None) for c in chunk]
        jobs.append(loop.run_in_executor(executor, cpu_stage, work, validator))
    for start, reasons in zip(
        range(0, len(items), CPU_CHUNK), await asyncio.gather(*jobs), strict=True
    ):
        for c, reason in zip(items[start : start + CPU_CHUNK], reasons, strict=True):
            if reason is not None:
                c.refuse(*reason)


class SignatureCheck:
    """The signing key: known, the author's, valid at the object's time; then STIX validity
    and the signature itself, off the event loop."""

    def __init__(
        self, store: Store, executor: Executor | None, validator: ValidatorName = "fast"
    ) -> None:
        self.store = store
        self.executor = executor
        self.validator: ValidatorName = validator

    async def __call__(self, batch: Batch) -> None:
        keys: dict[str, Key | None] = {}
        authors: dict[str, Member | None] = {}
        for c in batch.live:
            if c.value.get("id") in TLP_MARKINGS:
                c.refuse(
                    RefusalCode.TLP_BUILT_IN,
                    "TLP 2.0 marking definitions are built into the exchange; do not post them",
                )
                continue
            block = well_formed_signature(c)
            if block is None:
                continue
            key_id = block.get("key_id")
            if not isinstance(key_id, str):
                c.refuse(RefusalCode.KEY_UNKNOWN, "the signature extension has no key_id")
                continue
            if key_id not in keys:
                keys[key_id] = await self.store.members.get_key(key_id)
            key = keys[key_id]
            if key is None:
                c.refuse(RefusalCode.KEY_UNKNOWN, f"unknown key {key_id}")
                continue
            author_ref = c.value.get("created_by_ref")
            if is_observable(c.value):
                # STIX 2.1 gives cyber-observables no created_by_ref: the signing key's
                # owner is their author, everywhere the sharing rules look.
                if author_ref is not None:
                    c.refuse(
                        RefusalCode.OBSERVABLE_AUTHOR,
                        "a cyber-observable carries no created_by_ref in STIX 2.1: "
                        "remove it (the owner of the signing key is the author)",
                    )
                    continue
                author_ref = key.identity
            elif not isinstance(author_ref, str):
                c.refuse(
                    RefusalCode.AUTHOR_MISSING,
                    "created_by_ref is missing: a signed object names its author",
                )
                continue
            if key.identity != author_ref:
                c.refuse(
                    RefusalCode.KEY_NOT_AUTHOR,
                    f"key {key_id} is not a key of {author_ref} (created_by_ref)",
                )
                continue
            when = version_time(c.value)
            at = parse_ts(when) if when else now()
            problem = key_window_problem(key, at)
            if problem is not None:
                revoked = key.revoked_since is not None and at >= key.revoked_since
                c.refuse(RefusalCode.KEY_REVOKED if revoked else RefusalCode.KEY_NOT_VALID, problem)
                continue
            if author_ref not in authors:
                authors[author_ref] = await self.store.members.get_member_by_identity(author_ref)
            c.author = authors[author_ref]
            own = (batch.exchange_identity, batch.anonymous_identity)
            if c.author is None and author_ref not in own:
                c.refuse(
                    RefusalCode.AUTHOR_UNKNOWN,
                    f"created_by_ref {author_ref} is not a member of the exchange",
                )
                continue
            # Whoever posts it: a suspended member's objects are refused, relays included.
            if c.author is not None and c.author.status is not MemberStatus.ACTIVE:
                c.refuse(
                    RefusalCode.AUTHOR_SUSPENDED,
                    f"the author {author_ref} is suspended; its objects are refused",
                )
                continue
            c.key = key
            c.author_identity = author_ref
        await self._cpu(batch.live)

    async def _cpu(self, items: list[Candidate]) -> None:
        await run_cpu_stage(items, self.executor, self.validator)


class AuthorshipCheck:
    """The poster is the author, or a permitted relay; an id stays with its first author."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, batch: Batch) -> None:
        live = batch.live
        owners = await self.store.objects.object_authors([c.stix_id for c in live])
        for c in live:
            author = c.author_identity
            owner = owners.get(c.stix_id, author)
            if owner != author:
                c.refuse(RefusalCode.ID_TAKEN, f"{c.stix_id} was published by another author")


class SharingCheck:
    """Exactly one TLP 2.0 marking; audience markings stored or earlier in the envelope;
    AMBER, AMBER+STRICT and RED with an audience; relays only of CLEAR/GREEN the poster reads."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, batch: Batch) -> None:
        live = batch.live
        refs = {
            r
            for c in live
            for r in c.value.get("object_marking_refs", []) or []
            if isinstance(r, str)
        }
        posted_markings = {c.stix_id for c in live if c.value.get("type") == "marking-definition"}
        wanted = sorted((refs | posted_markings) - TLP_MARKINGS.keys())
        stored_audiences = await self.store.objects.audience_markings(wanted)
        stored_markings = await self.store.objects.object_authors(wanted)
        # id -> (author identity, audience entries)
        audiences = {k: (v[1], v[2]) for k, v in stored_audiences.items()}
        markings = set(stored_markings)
        # the versions held of each posted marking definition (they must not change)
        marking_versions = {
            m: {f.version for f in await self.store.objects.object_facts(m)}
            for m in sorted(posted_markings & markings)
        }
        access = Access(self.store)
        for c in batch.items:
            if c.failure is not None:
                continue
            try:
                self._classify(c, audiences, markings, marking_versions)
            except Refusal as exc:
                c.refuse(exc.code, exc.message)
                continue
            if c.value.get("type") == "marking-definition":
                markings.add(c.stix_id)
                version = c.version_text
                marking_versions.setdefault(c.stix_id, set()).add(
                    normalise_ts(version) if version else ""
                )
                if c.audience_entries is not None:
                    audiences[c.stix_id] = (c.author_identity, c.audience_entries)
            if c.author is not None and c.author.id != batch.poster.member:
                await self._relay(c, batch.poster, access)

    def _classify(
        self,
        c: Candidate,
        audiences: dict[str, tuple[str | None, tuple[str, ...]]],
        markings: set[str],
        marking_versions: dict[str, set[str]],
    ) -> None:
        value = c.value
        refs = value.get("object_marking_refs", [])
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise Refusal(
                RefusalCode.MARKING_REFS_INVALID, "object_marking_refs must be a list of ids"
            )
        if value.get("type") == "marking-definition":
            # STIX 2.1 marking definitions are never versioned, and an audience that could
            # change would change who reads every object that already references it.
            version = c.version_text
            held = marking_versions.get(c.stix_id)
            if held and (normalise_ts(version) if version else "") not in held:
                raise Refusal(
                    RefusalCode.MARKING_IMMUTABLE,
                    f"marking definitions cannot change: {c.stix_id} is stored already; "
                    "publish a new marking and new versions of the objects that use it",
                )
            ext = (value.get("extensions") or {}).get(AUDIENCE_EXTENSION_ID)
            if ext is not None:
                if not isinstance(ext, dict):
                    raise Refusal(
                        RefusalCode.AUDIENCE_INVALID, "the audience extension must be an object"
                    )
                c.audience_entries = parse_audience_entries(ext.get("audience"))
            return
        tlps = [TLP_MARKINGS[r] for r in refs if r in TLP_MARKINGS]
        if len(tlps) != 1:
            raise Refusal(
                RefusalCode.TLP_MISSING,
                f"needs exactly one TLP 2.0 marking in object_marking_refs (found {len(tlps)})",
            )
        others = [r for r in refs if r not in TLP_MARKINGS]
        audience_refs = [r for r in others if r in audiences]
        for r in others:
            if r not in audiences and r not in markings:
                raise Refusal(
                    RefusalCode.AUDIENCE_UNKNOWN,
                    f"marking {r} is neither stored nor earlier in the envelope",
                )
        if len(audience_refs) > 1:
            raise Refusal(RefusalCode.AUDIENCE_MULTIPLE, "at most one audience marking per object")
        entries = None
        if audience_refs:
            marking_author, entries = audiences[audience_refs[0]]
            if marking_author != c.author_identity:
                raise Refusal(
                    RefusalCode.AUDIENCE_FOREIGN,
                    f"audience marking {audience_refs[0]} belongs to another author: "
                    "an object may use only its own author's audience markings",
                )
        c.tlp = tlps[0]
        c.audience = object_audience(tlps[0], entries)

    async def _relay(self, c: Candidate, poster: Principal, access: Access) -> None:
        assert c.author is not None
        if c.tlp is Tlp.AMBER_STRICT:
            c.refuse(
                RefusalCode.RELAY_STRICT,
                "TLP:AMBER+STRICT objects may not be re-posted by another member",
            )
            return
        if c.tlp not in RELAYABLE:
            c.refuse(
                RefusalCode.RELAY_TLP,
                "only TLP:CLEAR and TLP:GREEN objects of another member may be relayed",
            )
            return
        # The poster must be able to read what it relays: the policy's `sees-with-ends`
        # table, on the object as it would be stored (the poster's inbound filters are its
        # own preference, not a limit on relaying).
        ends = _ends(c.value) if c.value.get("type") in ENDS_TYPES else ()
        facts = ObjectFacts(
            stix_id=c.stix_id,
            type=str(c.value.get("type")),
            tlp=c.tlp,
            author_identity=c.author.identity,
            author_sector=c.author.sector,
            audience=c.audience,
            deleted=False,
            ends=tuple(dict.fromkeys(ends)),
        )
        decision = await access.sees_with_ends(poster, facts)
        if not decision.allowed:
            c.refuse(
                RefusalCode.RELAY_UNREADABLE,
                f"you may relay only objects the sharing rules let you read ({decision.reason})",
            )


class PiiCheck:
    """Personal data in free-text fields (docs/privacy.md): refused, naming the field, unless
    the author marked the field as intended, or held for review when the poster's standing
    rules say so (not in an anonymous post: the copy must not hold it either)."""

    def __init__(self, store: Store, screen: PiiScreen) -> None:
        self.store = store
        self.screen = screen

    async def __call__(self, batch: Batch) -> None:
        review: bool | None = None
        for c in batch.live:
            findings = self.screen.screen(c.value)
            if not findings:
                continue
            if review is None:
                rules = await self.store.sharing.list_rules(batch.poster.member)
                review = not batch.anonymous and any(
                    r.direction is RuleDirection.SUBMISSION and r.effect is RuleEffect.REVIEW
                    for r in rules
                )
            texts = tuple(f.text for f in findings)
            if review:
                c.review = texts
                continue
            c.refuse(
                RefusalCode.PII_FOUND,
                f"personal data found: {'; '.join(texts)}. If it is meant to be there, mark the "
                "field as intended (docs/privacy.md); else remove it",
            )


class AnonymityCheck:
    """An anonymous post: the poster's own objects only, of kinds that can be published
    without naming their author, by a member whose outbound rules the copy would not escape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, batch: Batch) -> None:
        if not batch.anonymous:
            return
        rules = await self.store.sharing.list_rules(batch.poster.member)
        outbound = [r for r in rules if r.direction is RuleDirection.OUTBOUND]
        for c in batch.live:
            if outbound:
                c.refuse(
                    RefusalCode.ANONYMOUS_OUTBOUND,
                    "your outbound standing rules narrow what you publish, and an anonymous "
                    "copy (the exchange's) would escape them: post it named",
                )
                continue
            if c.author is None or c.author.id != batch.poster.member:
                c.refuse(
                    RefusalCode.ANONYMOUS_UNSUPPORTED,
                    "only your own objects can be submitted anonymously (a relay stays its "
                    "publisher's)",
                )
                continue
            problem = unsupported(c.value)
            if problem is not None:
                c.refuse(RefusalCode.ANONYMOUS_UNSUPPORTED, problem)
                continue
            named = names_author(
                c.value, c.author.identity, c.author.name, c.key.key_id if c.key else None
            )
            if named is not None:
                c.refuse(
                    RefusalCode.ANONYMOUS_NAMES_AUTHOR,
                    f"the object names its author ({named}): an anonymous object must not",
                )


InsertListener = Callable[[list[InsertResult]], Awaitable[None]]
StatusListener = Callable[[Status], Awaitable[None]]


class PublishService:
    def __init__(
        self,
        store: Store,
        exchange_identity: str,
        exchange_key: SigningKey,
        executor: Executor | None = None,
        anonymous: AnonymousSource | None = None,
        screen: PiiScreen | None = None,
        validator: ValidatorName = "fast",
    ) -> None:
        self.store = store
        self.exchange_identity = exchange_identity
        self.exchange_key = exchange_key
        self.anonymous = anonymous
        self.executor = executor
        self.validator: ValidatorName = validator
        self.checks: list[Check] = [
            StructureCheck(),
            SignatureCheck(store, executor, validator),
            AuthorshipCheck(store),
            SharingCheck(store),
            AnonymityCheck(store),
            PiiCheck(store, screen or PiiScreen()),
        ]
        self.listeners: list[InsertListener] = []
        # Called with each status resource, after it is saved (metrics count refusals).
        self.status_listeners: list[StatusListener] = []

    async def publish(
        self, poster: Principal, body: bytes, anonymous: bool | None = None
    ) -> Status:
        """Check and store the objects of one TAXII envelope; the status says what became of
        each. ``anonymous``: seal them and publish anonymous copies (None: as the poster's
        standing rules say, docs/privacy.md)."""
        requested = format_ts(now())
        raw = split_envelope(body)
        if anonymous is None:
            anonymous = await anonymous_by_default(self.store, poster.member)
        if anonymous and self.anonymous is None:
            raise InvalidInput("this exchange takes no anonymous submissions")
        batch = Batch(
            poster=poster,
            items=[Candidate(raw=r) for r in raw],
            exchange_identity=self.exchange_identity,
            anonymous=anonymous,
            anonymous_identity=self.anonymous.identity if self.anonymous else None,
        )
        for check in self.checks:
            if batch.live:
                await check(batch)
        if batch.anonymous:
            return await self._publish_anonymous(batch, poster, requested)
        held = [c for c in batch.live if c.review]
        accepted = [c for c in batch.live if not c.review]
        status_id = str(uuid.uuid4())

        def make_status(results: list[InsertResult]) -> Status:
            status = self._status(status_id, batch, poster, requested, accepted, results)
            if not held:
                return status
            pendings = tuple(
                StatusSuccess(
                    id=c.stix_id,
                    version=c.version_text,
                    message=f"held for review: {'; '.join(c.review)}",
                )
                for c in held
            )
            return status.model_copy(
                update={"status": "pending", "pendings": pendings, "pending_count": len(pendings)}
            )

        # Objects and their status resource commit in one transaction (or not at all); the
        # listeners (streams, metrics) hear of them only after that commit.
        news = [new_object(c, poster.member) for c in accepted]
        if held:
            items = [
                ReviewItem(
                    review_id=str(uuid.uuid4()),
                    member=str(poster.member),
                    status_id=status_id,
                    stix_id=c.stix_id,
                    version=new_object(c, poster.member).version,
                    findings=c.review,
                    submitted_at=requested,
                    object=new_object(c, poster.member),
                )
                for c in held
            ]
            results = await self.store.privacy.hold_for_review(items, news, make_status)
        else:
            results = await self.store.objects.insert_objects(news, status=make_status)
        status = make_status(results)
        inserted = [r for r in results if r.outcome is InsertOutcome.INSERTED]
        for status_listener in self.status_listeners:
            await status_listener(status)
        if inserted:
            for listener in self.listeners:
                await listener(inserted)
        return status

    async def _publish_anonymous(self, batch: Batch, poster: Principal, requested: str) -> Status:
        """Seal the accepted originals with the post's status (one transaction); their copies
        are inserted when released (at once when the delay is 0)."""
        assert self.anonymous is not None and poster.member is not None
        sealer = Sealer(self.store, self.anonymous)
        accepted = batch.live
        sealings = (
            await sealer.seal(
                poster.member,
                str(accepted[0].author_identity),
                [(c.value, c.raw.text, new_object(c, poster.member)) for c in accepted],
            )
            if accepted
            else []
        )
        results: list[InsertResult] = []
        for c, sealing in zip(accepted, sealings, strict=True):
            if sealing.refusal is not None:
                c.refuse(*sealing.refusal)
                continue
            if sealing.record is not None:
                c.note = (
                    f"sealed; published anonymously as {sealing.record.copy_id} "
                    f"(version {sealing.record.copy_object.version_text})"
                )
            results.append(
                InsertResult(
                    stix_id=c.stix_id, version=c.version_text or "", outcome=sealing.outcome
                )
            )
        still = batch.live
        status = self._status(str(uuid.uuid4()), batch, poster, requested, still, results)
        await self.store.privacy.seal(
            [s.record for s in sealings if s.record is not None and s.refusal is None], status
        )
        for status_listener in self.status_listeners:
            await status_listener(status)
        if self.anonymous.delay_seconds == 0:
            await self.release_anonymous()
        return status

    async def release_anonymous(self, every: bool = False) -> int:
        """Insert the anonymous copies whose release time has come (``every``: all that are
        pending, whatever their release time); how many."""
        stamp = format_ts(now())
        due = "9999-12-31T23:59:59.999999Z" if every else stamp
        inserted = await self.store.privacy.release_sealed(due, stamp)
        if inserted:
            for listener in self.listeners:
                await listener(inserted)
        return len(inserted)

    def _status(
        self,
        status_id: str,
        batch: Batch,
        poster: Principal,
        requested: str,
        accepted: list[Candidate],
        results: list[InsertResult],
    ) -> Status:
        successes: list[StatusSuccess] = []
        failures: list[StatusFailure] = []
        by_candidate = dict(zip(map(id, accepted), results, strict=True))
        for index, c in enumerate(batch.items):
            version = c.version_text
            if c.failure is None and c.review:
                continue  # held for review: a pending entry
            if c.failure is not None:
                failures.append(
                    StatusFailure(
                        id=c.failure_id(index),
                        version=c.failure_version(requested),
                        message=c.failure,
                    )
                )
                continue
            result = by_candidate[id(c)]
            if result.outcome is InsertOutcome.CONFLICT:
                code = (
                    RefusalCode.MARKING_IMMUTABLE
                    if c.value.get("type") == "marking-definition"
                    else RefusalCode.VERSION_CONFLICT
                )
                failures.append(
                    StatusFailure(
                        id=c.stix_id,
                        version=version or result.version,
                        message=Refusal(
                            code, "a different object with this id and version is stored already"
                        ).text,
                    )
                )
            else:
                successes.append(
                    StatusSuccess(
                        id=c.stix_id,
                        version=version or result.version,
                        message="stored already"
                        if result.outcome is InsertOutcome.DUPLICATE
                        else c.note,
                    )
                )
        return Status(
            id=status_id,
            member=poster.member or "",
            status="complete",
            request_timestamp=requested,
            total_count=len(batch.items),
            success_count=len(successes),
            successes=tuple(successes),
            failure_count=len(failures),
            failures=tuple(failures),
        )

    async def store_definitions(self, definitions: Sequence[RawObject]) -> list[InsertResult]:
        """Store extension definitions unsigned, their text exactly as given (STIX 2.1 gives
        extension definitions no ``extensions`` property, so no signature can ride on them).
        A version the exchange held before (signed, from earlier releases) is withdrawn so
        that the text given is the one every read path serves."""
        news: list[NewObject] = []
        for raw in definitions:
            value = raw.value
            version_text = value.get("modified") or value["created"]
            version = normalise_ts(version_text)
            held = await self.store.objects.object_facts(value["id"])
            stale = [f.version for f in held if not f.deleted and f.version != version]
            if stale:
                await self.store.objects.delete_objects(value["id"], stale, format_ts(now()))
            if any(f.version == version for f in held):
                continue
            news.append(_own_object(value, raw.text))
        return await self._store_own_objects(news)

    async def store_own(self, objects: Sequence[dict[str, Any]]) -> list[InsertResult]:
        """Sign objects the exchange itself makes (identities, extension definitions) and store
        them. Each object carries one TLP marking and no audience."""
        news = []
        for value in objects:
            signed = sign_object(
                dict(value, created_by_ref=self.exchange_identity)
                if "created_by_ref" not in value
                else dict(value),
                self.exchange_key,
            )
            body = json.dumps(signed, ensure_ascii=False, separators=(",", ":"))
            news.append(_own_object(signed, body, key_id=_signing_key_id(signed)))
        return await self._store_own_objects(news)

    async def _store_own_objects(self, news: list[NewObject]) -> list[InsertResult]:
        results = await self.store.objects.insert_objects(news)
        inserted = [r for r in results if r.outcome is InsertOutcome.INSERTED]
        if inserted:
            for listener in self.listeners:
                await listener(inserted)
        return results


def _own_object(value: dict[str, Any], body: str, key_id: str | None = None) -> NewObject:
    """An object of the exchange's own (never posted by a member): its TLP marking's
    readers, no audience marking, no ends."""
    refs = value.get("object_marking_refs", [])
    tlp = next((TLP_MARKINGS[r] for r in refs if r in TLP_MARKINGS), None)
    version_text = value.get("modified") or value["created"]
    return NewObject(
        stix_id=value["id"],
        type=value["type"],
        spec_version="2.1",
        version=normalise_ts(version_text),
        version_text=version_text,
        created=normalise_ts(value["created"]),
        author_identity=value.get("created_by_ref"),
        poster_member=None,
        tlp=tlp,
        audience=object_audience(tlp, None) if tlp else (),
        ends=(),
        markings=tuple(refs),
        key_id=key_id,
        body=body,
    )
