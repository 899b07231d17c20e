"""The Store protocol and its repositories: everything the services need from a database.

Stores never raise HTTP errors; they raise ``exchange.errors`` subclasses
(``NotFound``, ``Conflict``, ``StoreUnavailable``) or return values.
Policy is applied inside ``read_objects`` through ``exchange.store.query``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from exchange.errors import InvalidInput
from exchange.models import (
    AuditEntry,
    Delivery,
    Group,
    InsertResult,
    Key,
    Member,
    MemberHoldings,
    MemberStatus,
    NewObject,
    Page,
    Peer,
    PeerKey,
    PeerProof,
    Principal,
    PullProgress,
    PurgeResult,
    ReadQuery,
    RetainedVersion,
    ReviewItem,
    ReviewState,
    SealedRecord,
    StandingRule,
    Status,
    StoredObject,
    Token,
)
from exchange.policy import ObjectFacts
from exchange.translog.heads import Cosignature, LogKey, TreeHead
from exchange.translog.merkle import Node

if TYPE_CHECKING:
    from exchange.store.pgchannel import PgChannel
    from exchange.store.rows import Tx


class MemberRepository(Protocol):
    """Members, their API tokens and their signing keys."""

    # --- members
    async def add_member(self, member: Member) -> None: ...
    async def get_member(self, member_id: str) -> Member: ...
    async def get_member_by_identity(self, identity: str) -> Member | None: ...
    async def list_members(self) -> list[Member]: ...
    async def set_member_status(self, member_id: str, status: MemberStatus) -> Member: ...

    # --- tokens
    async def add_token(self, token: Token) -> None: ...
    async def find_token(self, token_hash: str) -> Token | None: ...
    async def get_token(self, token_id: str) -> Token: ...
    async def revoke_token(self, token_id: str, when: str) -> Token: ...
    async def list_tokens(self, member_id: str | None = None) -> list[Token]:
        """Every token (of one member when given), oldest first."""

    async def touch_token(self, token_id: str, when: str, unless_after: str) -> None:
        """Record a use of the token, unless one at or after ``unless_after`` is recorded."""

    # --- keys
    async def add_key(self, key: Key) -> None: ...
    async def get_key(self, key_id: str) -> Key | None: ...
    async def list_keys(self, member_id: str | None = None) -> list[Key]: ...
    async def revoke_key(self, key_id: str, since: str) -> Key: ...


class SharingRepository(Protocol):
    """Sharing groups and standing rules (what the policy reads of the readers' world)."""

    # --- groups
    async def create_group(self, name: str, created: str) -> None: ...
    async def add_group_member(self, name: str, member_id: str) -> Group: ...
    async def get_group(self, name: str) -> Group: ...
    async def list_groups(self) -> list[Group]: ...
    async def groups_of(self, member_id: str) -> list[str]: ...

    # --- standing rules
    async def add_rule(self, rule: StandingRule, identity: str) -> None: ...
    async def list_rules(self, member_id: str | None = None) -> list[StandingRule]: ...
    async def delete_rule(self, rule_id: str) -> None: ...


class ObjectRepository(Protocol):
    """Object versions: the one read query (policy applied in it), insert, withdrawal."""

    # --- objects
    async def insert_objects(
        self,
        objects: Sequence[NewObject],
        status: Callable[[list[InsertResult]], Status] | None = None,
        after: Callable[[Tx, list[InsertResult]], Awaitable[None]] | None = None,
    ) -> list[InsertResult]:
        """Store objects in one durable transaction, in order, each with a distinct date_added.

        With ``status``, the status resource it builds from the results is saved in that same
        transaction: objects and status commit together, or (when anything fails, ``status``
        raising included) neither does. ``after`` runs last in that transaction."""

    async def read_objects(
        self, reader: Principal, query: ReadQuery, with_body: bool = True
    ) -> Page:
        """One page of what ``reader`` may read, in date_added order, policy applied in the query."""

    async def object_authors(self, stix_ids: Sequence[str]) -> dict[str, str | None]:
        """Author identity of each id the exchange holds (any version, withdrawn included)."""

    async def audience_markings(
        self, marking_ids: Sequence[str]
    ) -> dict[str, tuple[str, str | None, tuple[str, ...]]]:
        """For stored audience markings: id -> (id, author identity, audience entries)."""

    async def object_facts(self, stix_id: str) -> list[ObjectFacts]:
        """Every stored version of one object, in version order, for deciding in Python."""

    async def marking_referrers(self, marking_id: str) -> list[str]:
        """The objects whose latest live version references ``marking_id``."""

    async def delete_objects(self, stix_id: str, versions: Sequence[str] | None, when: str) -> int:
        """Withdraw versions (all when None); return how many."""

    async def count_objects(self) -> tuple[int, int]:
        """(live, withdrawn) object versions."""

    async def latest_seq(self) -> int: ...


class StatusRepository(Protocol):
    """TAXII status resources and the delivery ledger."""

    # --- statuses
    async def save_status(self, status: Status) -> None: ...
    async def get_status(self, status_id: str) -> Status | None: ...
    async def expire_statuses(self, before: str) -> int: ...

    # --- delivery ledger
    async def record_deliveries(
        self, member_id: str, objects: Sequence[StoredObject], when: str
    ) -> None: ...
    async def list_deliveries(self, stix_id: str) -> list[Delivery]: ...


class CounterRepository(Protocol):
    """Counters every worker shares."""

    # --- rate limits
    async def add_rate_counts(self, window_start: int, counts: dict[str, int]) -> dict[str, int]:
        """Add request counts for one window; return every caller's total in it."""

    # --- public feed versions (their Last-Modified)
    async def feed_version(self, feed: str) -> tuple[str, str] | None:
        """(digest, changed_at) last recorded for a public feed, if any."""

    async def set_feed_version(self, feed: str, digest: str, changed_at: str) -> None: ...


class LogRepository(Protocol):
    """The transparency log (every inserted object version gets its leaf in
    ``ObjectRepository.insert_objects``, in the same transaction)."""

    async def log_size(self) -> int:
        """Leaves in the log."""

    async def log_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        """Stored hashes of complete subtrees ``(level, index)``; missing ones left out."""

    async def log_leaf_index(self, stix_id: str, version: str) -> int | None: ...
    async def log_keys(self) -> list[LogKey]:
        """Every log key, the current one first."""

    async def add_log_key(self, key: LogKey, retire_at: str | None) -> None: ...
    async def save_log_head(self, head: TreeHead) -> None: ...
    async def log_head(self, tree_size: int | None = None) -> TreeHead | None:
        """The newest signed head (of that size), with its cosignatures."""

    async def log_heads_of_size(self, tree_size: int) -> list[TreeHead]: ...
    async def add_log_cosignature(
        self, head: TreeHead, cosig: Cosignature, created: str
    ) -> None: ...
    async def log_witness_size(self, witness: str) -> int:
        """The tree size a C2SP witness last cosigned (0: never)."""

    async def save_log_witness_cosignature(
        self, head: TreeHead, witness: str, line: str | None, tree_size: int
    ) -> None:
        """Keep a witness's cosignature line of ``head`` (if any) and the size it is at."""

    async def log_witness_lines(self, head: TreeHead) -> list[str]: ...


class PeerRepository(Protocol):
    """Federation: the peers pulled from, their mirrored keys, the proofs of what came."""

    async def add_peer(self, peer: Peer, token_sealed: str) -> None: ...
    async def get_peer(self, name: str) -> Peer: ...
    async def peer_token(self, name: str) -> str:
        """The peer's token, sealed."""

    async def list_peers(self) -> list[Peer]: ...
    async def remove_peer(self, name: str) -> None: ...
    async def take_lease(self, name: str, owner: str, now: str, until: str) -> bool: ...
    async def release_lease(self, name: str, owner: str) -> None: ...
    async def save_progress(self, name: str, progress: PullProgress) -> None: ...
    async def import_batch(
        self,
        name: str,
        objects: Sequence[NewObject],
        proofs: Sequence[PeerProof],
        progress: PullProgress,
    ) -> list[InsertResult]: ...
    async def mirror_keys(self, peer: str, keys: Sequence[PeerKey]) -> list[str]: ...
    async def peer_keys(self, peer: str, key_ids: Sequence[str]) -> dict[str, PeerKey]: ...
    async def list_peer_keys(self) -> list[PeerKey]: ...
    async def proofs(self, stix_id: str, version: str) -> list[PeerProof]: ...


class AuditRepository(Protocol):
    """The audit log: administrator actions and refused requests (never a secret)."""

    async def record_audit(self, entries: list[AuditEntry]) -> None: ...
    async def list_audit(
        self, since: str | None = None, member: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Entries at or after ``since`` (about ``member`` when given), oldest first."""


class PrivacyRepository(Protocol):
    """Sealed anonymous submissions and the PII review queue (administrators only)."""

    # --- sealed records
    async def seal(self, records: Sequence[SealedRecord], status: Status | None = None) -> None:
        """Keep anonymous submissions sealed, with the post's status, in one transaction."""

    async def sealed_of_copies(self, copy_ids: Sequence[str]) -> list[SealedRecord]: ...
    async def release_sealed(self, due: str, when: str) -> list[InsertResult]:
        """Insert the copies released at or before ``due``; mark them released at ``when``."""

    async def list_sealed(self, member_id: str | None = None) -> list[SealedRecord]: ...
    async def find_sealed(self, ref: str) -> list[SealedRecord]:
        """The record with id ``ref``, or every record of the copy ``ref``."""

    # --- retention
    async def retained_versions(self) -> list[RetainedVersion]:
        """Every stored object version with what retention decides it by."""

    async def purge(
        self, seqs: Sequence[int], sealed_ids: Sequence[str], review_ids: Sequence[str]
    ) -> PurgeResult:
        """Remove versions from every read path (log leaves kept as hashes), sealed records
        and review items, in one transaction."""

    async def member_holdings(self, member_id: str, identity: str) -> MemberHoldings:
        """A member's objects, deliveries, statuses and log cosignatures (data export)."""

    # --- review queue
    async def hold_for_review(
        self,
        items: Sequence[ReviewItem],
        objects: Sequence[NewObject],
        status: Callable[[list[InsertResult]], Status],
    ) -> list[InsertResult]:
        """Store the post's accepted objects, hold ``items`` and save the status, at once."""

    async def list_review(
        self, state: ReviewState | None = None, member_id: str | None = None
    ) -> list[ReviewItem]: ...
    async def decide_review(
        self, review_id: str, approve: bool, by: str, when: str, reason: str | None = None
    ) -> tuple[ReviewItem, list[InsertResult]]:
        """Approve (store the object) or reject a pending item; its post's status updated."""


class Store(Protocol):
    """One database: its lifecycle, and the repositories by concern over its transactions
    (``exchange.store.sql.SqlStore`` for both SQLite and PostgreSQL)."""

    url: str

    async def open(self) -> None:
        """Connect and bring the schema to the current version."""

    async def close(self) -> None: ...

    async def schema_version(self) -> tuple[int, int]:
        """(version in the database, version this code expects)."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""

    async def check_integrity(self) -> list[str]:
        """What is wrong with the stored data (empty when nothing is): the database's own
        check (SQLite ``PRAGMA integrity_check``) and the exchange's consistency queries."""

    # --- secrets shared by every worker (cursor MAC key, the exchange's own signing key)
    async def get_or_create_secret(self, name: str, value: bytes) -> bytes: ...

    def notification_channel(self, name: str) -> PgChannel | None:
        """A channel that wakes every worker on this database (PostgreSQL LISTEN/NOTIFY);
        None where the store has none (SQLite: one process writes, the poll sees the rest)."""

    # --- the repositories, each method a short transaction of its own
    @property
    def members(self) -> MemberRepository: ...
    @property
    def sharing(self) -> SharingRepository: ...
    @property
    def objects(self) -> ObjectRepository: ...
    @property
    def statuses(self) -> StatusRepository: ...
    @property
    def counters(self) -> CounterRepository: ...
    @property
    def log(self) -> LogRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def privacy(self) -> PrivacyRepository: ...
    @property
    def peers(self) -> PeerRepository: ...


def open_store(url: str) -> Store:
    """Pick the store for a database URL (not yet opened)."""
    if url.startswith("sqlite:///"):
        from exchange.store.sqlite import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from exchange.store.postgres import PostgresStore
        except ImportError as exc:  # asyncpg is the optional "postgres" extra
            raise InvalidInput(
                "PostgreSQL needs the postgres extra: pip install 'exchange[postgres]'"
            ) from exc
        return PostgresStore(url)
    raise InvalidInput(
        f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://user@host:port/db"
    )
