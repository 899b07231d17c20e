"""Frozen models that cross layer boundaries."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemberKind(StrEnum):
    GOVERNMENT = "government"
    PRIVATE = "private"
    EXCHANGE = "exchange"  # a peer exchange that imports what the sharing rules let it read


class ShareLevel(StrEnum):
    """What a peer exchange reads without an audience naming it: TLP:CLEAR, or TLP:GREEN
    too (a peer registered ``--share green`` counts as one of the community's members)."""

    CLEAR = "clear"
    GREEN = "green"


class MemberStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Member(Frozen):
    id: str
    identity: str
    name: str
    kind: MemberKind
    sector: str
    economy: str
    status: MemberStatus = MemberStatus.ACTIVE
    created: datetime
    share: ShareLevel | None = None  # peer exchanges only (kind ``exchange``)


class TokenScope(StrEnum):
    READ_WRITE = "read-write"
    READ_ONLY = "read-only"


class Token(Frozen):
    token_id: str
    member: str
    token_hash: str
    scope: TokenScope
    created: datetime
    expires: datetime | None
    revoked: datetime | None = None
    last_used: datetime | None = None


class Key(Frozen):
    key_id: str
    member: str | None  # None: one of the exchange's own keys
    identity: str
    public_key: str  # PEM
    not_before: datetime
    not_after: datetime | None
    revoked_since: datetime | None = None
    created: datetime


class KeyWindow(Protocol):
    """What decides whether a key may sign for a moment: the server's Key and the
    client's key-directory entries both have it."""

    @property
    def key_id(self) -> str: ...
    @property
    def not_before(self) -> datetime: ...
    @property
    def not_after(self) -> datetime | None: ...
    @property
    def revoked_since(self) -> datetime | None: ...


def key_window_problem(key: KeyWindow, at: datetime) -> str | None:
    """Why ``key`` may not sign an object whose version time is ``at`` (None: it may)."""
    if at < key.not_before:
        return f"key {key.key_id} is not valid before {_ts(key.not_before)}"
    if key.not_after is not None and at >= key.not_after:
        return f"key {key.key_id} expired at {_ts(key.not_after)}"
    if key.revoked_since is not None and at >= key.revoked_since:
        return f"key {key.key_id} revoked since {_ts(key.revoked_since)}"
    return None


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Group(Frozen):
    name: str
    members: tuple[str, ...] = ()


class RuleDirection(StrEnum):
    OUTBOUND = "outbound"  # narrows everything a publisher publishes
    INBOUND = "inbound"  # a reader's subscription filter
    SUBMISSION = "submission"  # how the exchange takes a member's posts (docs/privacy.md)


class RuleEffect(StrEnum):
    REQUIRE = "require"  # outbound: the reader must match one of the values
    DENY = "deny"  # outbound: a reader matching any value is refused
    ONLY = "only"  # inbound: keep only objects matching one of the values
    ANONYMOUS = "anonymous"  # submission: posts are anonymous unless they say otherwise
    REVIEW = "review"  # submission: personal data found goes to the review queue, not refused


InboundField = Literal["type", "tlp", "publisher", "sector"]


class StandingRule(Frozen):
    rule_id: str
    member: str
    direction: RuleDirection
    effect: RuleEffect
    # outbound: audience principals ("economy:DE", "kind:government", "member:identity--...")
    # inbound: the field the filter looks at, values in ``values``
    field: str | None = None
    values: tuple[str, ...]
    created: datetime


class Principal(Frozen):
    """Who is reading: everything the sharing policy needs to know of the reader."""

    member: str | None  # None: anonymous (the public collection)
    identity: str | None
    # the audience entries this reader matches ("public", "members", "member:identity--…",
    # "group:NAME", "sector:S", "economy:CC", "kind:K"); not API tokens
    matches: frozenset[str]
    inbound: tuple[StandingRule, ...] = ()
    can_write: bool = False
    suspended: bool = False
    # a peer exchange: what it imports leaves this exchange (TLP:AMBER+STRICT and RED never)
    is_exchange: bool = False

    @property
    def is_member(self) -> bool:
        return self.member is not None


class Tlp(StrEnum):
    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"


class NewObject(Frozen):
    """An accepted object on its way into the store, with what policy needs precomputed."""

    stix_id: str
    type: str
    spec_version: str
    version: str  # normalised modified, else created, else "" (the store then uses date_added)
    version_text: str | None = None  # modified, else created, exactly as the object writes it
    created: str | None
    author_identity: str | None
    poster_member: str | None
    tlp: Tlp | None
    audience: tuple[str, ...]  # principals that may read it (publisher aside)
    ends: tuple[str, ...]  # relationship/sighting ends that must be readable too
    markings: tuple[str, ...]  # object_marking_refs
    audience_entries: tuple[str, ...] | None = None  # set on audience marking definitions
    key_id: str | None = None  # the signing key (``key revoke --since`` withdraws by it)
    body: str  # the object's JSON text exactly as received


class StoredObject(Frozen):
    seq: int
    stix_id: str
    type: str
    spec_version: str
    version: str  # normalised (microseconds): sorts, and matches match[version] by instant
    date_added: str
    author_identity: str | None
    tlp: Tlp | None
    body: str
    version_text: str | None = None  # modified, else created, exactly as written

    @property
    def version_as_written(self) -> str:
        """The version TAXII serves: the object's own ``modified`` (else ``created``) text;
        ``date_added`` for objects that have neither."""
        return self.version_text or self.version


class InsertOutcome(StrEnum):
    INSERTED = "inserted"
    DUPLICATE = "duplicate"  # same id, version and bytes: accepted again, nothing stored
    CONFLICT = "conflict"  # same id and version, other bytes


class InsertResult(Frozen):
    stix_id: str
    version: str
    outcome: InsertOutcome
    date_added: str | None = None
    seq: int | None = None


VersionMatch = Literal["first", "last", "all"]


class ObjectFilter(Frozen):
    """TAXII filters, normalised."""

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ("last",)  # "first", "last", "all" or normalised timestamps
    spec_versions: tuple[str, ...] = ()
    added_after: str | None = None


class ReadQuery(Frozen):
    collection: str  # "bulletins" or "public"
    filter: ObjectFilter = Field(default_factory=ObjectFilter)
    after_seq: int = 0
    limit: int = 100


class Page(Frozen):
    objects: tuple[StoredObject, ...]
    more: bool


class StatusFailure(Frozen):
    id: str
    version: str | None = None
    message: str


class StatusSuccess(Frozen):
    id: str
    version: str | None = None
    message: str | None = None


class Status(Frozen):
    id: str
    member: str
    status: Literal["pending", "complete"]
    request_timestamp: str
    total_count: int
    success_count: int
    successes: tuple[StatusSuccess, ...] = ()
    failure_count: int
    failures: tuple[StatusFailure, ...] = ()
    pending_count: int = 0
    pendings: tuple[StatusSuccess, ...] = ()

    def to_taxii(self) -> dict[str, object]:
        body: dict[str, object] = self.model_dump(exclude={"member"}, exclude_none=True)
        for key in ("successes", "failures", "pendings"):
            if not body.get(key):
                body.pop(key, None)
        return body


class Delivery(Frozen):
    member: str
    stix_id: str
    version: str
    delivered: str


class AuditOutcome(StrEnum):
    DONE = "done"
    REFUSED = "refused"


class AuditEntry(Frozen):
    """One line of the audit log: who did what to what, and how it ended (never a secret).

    ``actor`` is ``admin:<login>`` for the CLI, ``member:<id>`` or ``address:<ip>`` for
    requests; ``member`` is the member the entry concerns (for a member's data export)."""

    at: str
    actor: str
    action: str
    target: str | None = None
    member: str | None = None
    outcome: AuditOutcome = AuditOutcome.DONE
    reason: str | None = None
    details: dict[str, str] = Field(default_factory=dict)
    seq: int | None = None


class SealedRecord(Frozen):
    """An anonymous submission: the author's original, kept sealed (administrators only),
    and the copy the exchange publishes in its place at ``release_at``."""

    sealed_id: str
    copy_id: str
    copy_version: str
    author_member: str
    author_identity: str
    original_id: str
    original_version: str
    key_id: str | None
    original_body: str
    copy_object: NewObject
    submitted_at: str
    release_at: str
    released_at: str | None = None


class ReviewState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ReviewItem(Frozen):
    """An object held for an administrator because PII screening found personal data in it
    and its author's standing rules send such objects to review instead of refusing them."""

    review_id: str
    member: str
    status_id: str  # the post's status resource, updated when the item is decided
    stix_id: str
    version: str
    findings: tuple[str, ...]
    submitted_at: str
    state: ReviewState = ReviewState.PENDING
    decided_at: str | None = None
    decided_by: str | None = None
    object: NewObject


class MemberHoldings(Frozen):
    """What the database holds from and about one member beyond its own record, tokens,
    keys, rules and audit entries: the rows of a data export (docs/privacy.md)."""

    objects: tuple[dict[str, object], ...] = ()  # versions it authored or first posted
    deliveries_received: tuple[Delivery, ...] = ()
    deliveries_of_its_objects: tuple[Delivery, ...] = ()
    statuses: tuple[Status, ...] = ()
    log_cosignatures: tuple[dict[str, object], ...] = ()


class RetainedVersion(Frozen):
    """What retention decides an object version by (docs/privacy.md)."""

    seq: int
    stix_id: str
    version: str
    type: str
    tlp: Tlp | None
    author_identity: str | None
    date_added: str
    valid_until: str | None = None  # an indicator's


class PurgeResult(Frozen):
    versions: int = 0
    sealed: int = 0
    review: int = 0
    deliveries: int = 0


class Peer(Frozen):
    """An exchange this one pulls from (``exchange admin peer add``); never its token."""

    name: str
    url: str  # the peer's API root URL, ending in "/"
    created: str
    added_after: str | None = None  # the pull cursor: the last date_added imported
    next_cursor: str | None = None  # the peer's own ``next`` within one query, if any
    imported: int = 0
    last_pull: str | None = None
    head: str | None = None  # the last signed head of the peer's log seen (its JSON)
    tree_size: int = 0
    problems: tuple[str, ...] = ()


class PullProgress(Frozen):
    """Where a pull got to, saved with the objects it imported (one transaction)."""

    added_after: str | None
    next_cursor: str | None
    head: str | None
    tree_size: int
    last_pull: str
    problems: tuple[str, ...]


class PeerKey(Frozen):
    """A key mirrored from a peer's key directory; ``exchange``: the API root of the
    exchange its owner belongs to."""

    key_id: str
    identity: str
    public_key: str  # PEM
    not_before: datetime
    not_after: datetime | None
    revoked_since: datetime | None = None
    exchange: str
    created: datetime


class PeerProof(Frozen):
    """That an imported object version is in the log of the peer it came from."""

    stix_id: str
    version: str
    peer: str
    exchange: str  # the peer's API root URL
    leaf_index: int
    tree_size: int
    audit_path: tuple[str, ...]  # hex
    head: str  # the signed head's JSON
    log_key: str  # PEM of the log key that signed it
