"""Privacy: sealed anonymous submissions and the PII review queue (docs/privacy.md).

The ``privacy`` repository: each method a transaction of its own over ``SqlStore``. Nothing
here is on a member's read path: only administrators' commands read these tables."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import orjson

from exchange.crypto import object_leaf_hash
from exchange.errors import Conflict, NotFound, Refusal, RefusalCode
from exchange.models import (
    Delivery,
    InsertOutcome,
    InsertResult,
    MemberHoldings,
    NewObject,
    PurgeResult,
    RetainedVersion,
    ReviewItem,
    ReviewState,
    SealedRecord,
    Status,
    StatusFailure,
    StatusSuccess,
    Tlp,
)
from exchange.store.rows import Row, chunks, refresh_heads
from exchange.store.statuses import insert_status

if TYPE_CHECKING:
    from exchange.store.sql import SqlStore

SEALED_COLS = (
    "sealed_id, copy_id, copy_version, author_member, author_identity, original_id,"
    " original_version, key_id, original_body, copy_object, submitted_at, release_at, released_at"
)
REVIEW_COLS = (
    "review_id, member, status_id, stix_id, version, findings, submitted_at, state, decided_at,"
    " decided_by, object"
)


def _sealed(row: Row) -> SealedRecord:
    return SealedRecord(
        sealed_id=row[0],
        copy_id=row[1],
        copy_version=row[2],
        author_member=row[3],
        author_identity=row[4],
        original_id=row[5],
        original_version=row[6],
        key_id=row[7],
        original_body=row[8],
        copy_object=NewObject.model_validate_json(row[9]),
        submitted_at=row[10],
        release_at=row[11],
        released_at=row[12],
    )


def _delivery(row: Row) -> Delivery:
    return Delivery(member=row[0], stix_id=row[1], version=row[2], delivered=row[3])


def _review(row: Row) -> ReviewItem:
    return ReviewItem(
        review_id=row[0],
        member=row[1],
        status_id=row[2],
        stix_id=row[3],
        version=row[4],
        findings=tuple(orjson.loads(row[5])),
        submitted_at=row[6],
        state=ReviewState(row[7]),
        decided_at=row[8],
        decided_by=row[9],
        object=NewObject.model_validate_json(row[10]),
    )


def decide_in_status(
    status: Status, item: ReviewItem, approve: bool, results: list[InsertResult], reason: str | None
) -> Status:
    """The post's status once a held object is decided: out of ``pendings``, into
    ``successes`` (approved and stored) or ``failures`` (rejected, or a conflict)."""
    pendings = tuple(p for p in status.pendings if p.id != item.stix_id)
    successes, failures = list(status.successes), list(status.failures)
    stored = approve and results and results[0].outcome is not InsertOutcome.CONFLICT
    if stored:
        successes.append(StatusSuccess(id=item.stix_id, version=item.version, message="approved"))
    else:
        why = (
            "a different object with this id and version is stored already"
            if approve
            else f"rejected on review{': ' + reason if reason else ''}"
        )
        failures.append(
            StatusFailure(
                id=item.stix_id,
                version=item.version,
                message=Refusal(RefusalCode.PII_FOUND, why).text,
            )
        )
    return status.model_copy(
        update={
            "status": "pending" if pendings else "complete",
            "pendings": pendings,
            "pending_count": len(pendings),
            "successes": tuple(successes),
            "success_count": len(successes),
            "failures": tuple(failures),
            "failure_count": len(failures),
        }
    )


class SqlPrivacy:
    """Sealed records and the review queue."""

    def __init__(self, db: SqlStore) -> None:
        self.db = db

    # --- sealed anonymous submissions ---------------------------------------------------------

    async def seal(self, records: Sequence[SealedRecord], status: Status | None = None) -> None:
        """Keep anonymous submissions sealed, with the post's status resource, in one
        transaction (their copies are inserted later, by ``release_sealed``)."""
        async with self.db.transaction(write=True) as tx:
            for r in records:
                held = await tx.fetchone(
                    "SELECT 1 FROM sealed WHERE copy_id = ? AND copy_version = ?",
                    (r.copy_id, r.copy_version),
                )
                if held is not None:
                    raise Conflict(f"{r.original_id} was sealed at the same time by another post")
                await tx.execute(
                    f"INSERT INTO sealed ({SEALED_COLS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.sealed_id,
                        r.copy_id,
                        r.copy_version,
                        r.author_member,
                        r.author_identity,
                        r.original_id,
                        r.original_version,
                        r.key_id,
                        r.original_body,
                        r.copy_object.model_dump_json(),
                        r.submitted_at,
                        r.release_at,
                        r.released_at,
                    ),
                )
            if status is not None:
                await insert_status(tx, status)

    async def sealed_of_copies(self, copy_ids: Sequence[str]) -> list[SealedRecord]:
        """Every sealed record of these copies, oldest version first."""
        out: list[SealedRecord] = []
        async with self.db.transaction() as tx:
            for chunk in chunks(list(dict.fromkeys(copy_ids)), 500):
                rows = await tx.fetchall(
                    f"SELECT {SEALED_COLS} FROM sealed WHERE copy_id IN ("
                    + ", ".join("?" for _ in chunk)
                    + ") ORDER BY copy_id, copy_version",
                    chunk,
                )
                out += [_sealed(r) for r in rows]
        return out

    async def release_sealed(self, due: str, when: str) -> list[InsertResult]:
        """Insert the copies whose release time has come (``release_at <= due``), in a random
        order, and mark them released; one transaction under the ingest lock, so workers
        releasing at once never insert a copy twice."""
        async with self.db.transaction(write=True) as tx:
            await self.db.lock_ingest(tx)
            rows = await tx.fetchall(
                "SELECT sealed_id, copy_object FROM sealed"
                " WHERE released_at IS NULL AND release_at <= ? ORDER BY sealed_id",
                (due,),
            )
            if not rows:
                return []
            found = [(str(r[0]), NewObject.model_validate_json(r[1])) for r in rows]
            # Submission order would be a timing hint: the copies due together are inserted
            # (and get their date_added and log leaves) in random order, versions of one
            # object oldest first.
            random.SystemRandom().shuffle(found)
            found.sort(key=lambda item: item[1].stix_id)
            by_object: dict[str, list[NewObject]] = {}
            for _, obj in found:
                by_object.setdefault(obj.stix_id, []).append(obj)
            groups = list(by_object.values())
            random.SystemRandom().shuffle(groups)
            news = [o for g in groups for o in sorted(g, key=lambda o: o.version)]
            results = await self.db.objects.insert_in(
                tx, news, [object_leaf_hash(o.body) for o in news]
            )
            await tx.executemany(
                "UPDATE sealed SET released_at = ? WHERE sealed_id = ?",
                [(when, sealed_id) for sealed_id, _ in found],
            )
        return [r for r in results if r.outcome is InsertOutcome.INSERTED]

    async def list_sealed(self, member_id: str | None = None) -> list[SealedRecord]:
        where, params = ("WHERE author_member = ?", (member_id,)) if member_id else ("", ())
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT {SEALED_COLS} FROM sealed {where} ORDER BY submitted_at, sealed_id",
                params,
            )
        return [_sealed(r) for r in rows]

    async def find_sealed(self, ref: str) -> list[SealedRecord]:
        """The sealed record ``ref`` (its id), or every record of the copy ``ref`` (an object
        id); NotFound when there is none."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT {SEALED_COLS} FROM sealed WHERE sealed_id = ? OR copy_id = ?"
                " ORDER BY copy_version",
                (ref, ref),
            )
        if not rows:
            raise NotFound(f"no sealed record or anonymous copy {ref!r}")
        return [_sealed(r) for r in rows]

    # --- retention -------------------------------------------------------------------------

    async def retained_versions(self) -> list[RetainedVersion]:
        """Every stored object version with what retention decides it by."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "SELECT seq, stix_id, version, type, tlp, author_identity, date_added,"
                " CASE WHEN type = 'indicator' THEN body END FROM objects ORDER BY seq"
            )
        out = []
        for r in rows:
            valid_until = None
            if r[7] is not None:
                found = orjson.loads(r[7]).get("valid_until")
                valid_until = found if isinstance(found, str) else None
            out.append(
                RetainedVersion(
                    seq=int(r[0]),
                    stix_id=r[1],
                    version=r[2],
                    type=r[3],
                    tlp=Tlp(r[4]) if r[4] else None,
                    author_identity=r[5],
                    date_added=r[6],
                    valid_until=valid_until,
                )
            )
        return out

    async def purge(
        self, seqs: Sequence[int], sealed_ids: Sequence[str], review_ids: Sequence[str]
    ) -> PurgeResult:
        """Remove object versions (from every read path: the objects and what the read query
        joins, the delivery ledger), sealed records (those of purged copies too) and review
        items, in one transaction. The transparency log keeps the versions' leaves, their
        hashes only: the leaf rows forget which object they were, so proofs still hold."""
        versions = sealed = review = deliveries = 0
        async with self.db.transaction(write=True) as tx:
            await self.db.lock_ingest(tx)
            touched: list[str] = []
            for chunk in chunks(list(dict.fromkeys(seqs)), 500):
                marks = ", ".join("?" for _ in chunk)
                rows = await tx.fetchall(
                    f"SELECT seq, stix_id, version FROM objects WHERE seq IN ({marks})", chunk
                )
                for _, stix_id, version in rows:
                    touched.append(stix_id)
                    deliveries += await tx.execute(
                        "DELETE FROM deliveries WHERE stix_id = ? AND version = ?",
                        (stix_id, version),
                    )
                    sealed += await tx.execute(
                        "DELETE FROM sealed WHERE copy_id = ? AND copy_version = ?",
                        (stix_id, version),
                    )
                for table in ("object_audience", "object_ends", "object_markings"):
                    await tx.execute(f"DELETE FROM {table} WHERE seq IN ({marks})", chunk)
                await tx.execute(f"DELETE FROM object_heads WHERE head_seq IN ({marks})", chunk)
                await tx.execute(
                    f"UPDATE log_leaves SET stix_id = '', version = '' WHERE seq IN ({marks})",
                    chunk,
                )
                versions += await tx.execute(f"DELETE FROM objects WHERE seq IN ({marks})", chunk)
            await refresh_heads(tx, touched)
            for sealed_id in dict.fromkeys(sealed_ids):
                sealed += await tx.execute("DELETE FROM sealed WHERE sealed_id = ?", (sealed_id,))
            for review_id in dict.fromkeys(review_ids):
                review += await tx.execute(
                    "DELETE FROM review_queue WHERE review_id = ?", (review_id,)
                )
        return PurgeResult(versions=versions, sealed=sealed, review=review, deliveries=deliveries)

    # --- a member's data export -------------------------------------------------------------

    async def member_holdings(self, member_id: str, identity: str) -> MemberHoldings:
        """Every row from or about a member in the objects, deliveries, statuses and log
        cosignatures (one read transaction: a consistent snapshot)."""
        async with self.db.transaction() as tx:
            objects = await tx.fetchall(
                "SELECT stix_id, type, version, version_text, date_added, tlp, author_identity,"
                " poster_member, deleted_at, key_revoked_at, body FROM objects"
                " WHERE author_identity = ? OR poster_member = ? ORDER BY seq",
                (identity, member_id),
            )
            received = await tx.fetchall(
                "SELECT member, stix_id, version, delivered FROM deliveries WHERE member = ?"
                " ORDER BY delivered, stix_id, version",
                (member_id,),
            )
            of_own = await tx.fetchall(
                "SELECT d.member, d.stix_id, d.version, d.delivered FROM deliveries d"
                " WHERE d.stix_id IN (SELECT o.stix_id FROM objects o"
                " WHERE o.author_identity = ?) ORDER BY d.delivered, d.stix_id, d.member",
                (identity,),
            )
            statuses = await tx.fetchall(
                "SELECT body FROM statuses WHERE member = ? ORDER BY created, id", (member_id,)
            )
            cosignatures = await tx.fetchall(
                "SELECT tree_size, head_key_id, key_id, signature, created, note_line"
                " FROM log_cosignatures WHERE member = ? ORDER BY tree_size, key_id",
                (member_id,),
            )
        return MemberHoldings(
            objects=tuple(
                {
                    "id": r[0],
                    "type": r[1],
                    "version": r[3] or r[2],
                    "date_added": r[4],
                    "tlp": r[5],
                    "relayed": r[6] != identity,
                    "deleted_at": r[8],
                    "key_revoked_at": r[9],
                    "object": orjson.loads(r[10]),
                }
                for r in objects
            ),
            deliveries_received=tuple(_delivery(r) for r in received),
            deliveries_of_its_objects=tuple(_delivery(r) for r in of_own),
            statuses=tuple(Status.model_validate_json(r[0]) for r in statuses),
            log_cosignatures=tuple(
                {
                    "tree_size": int(r[0]),
                    "head_key_id": r[1],
                    "key_id": r[2],
                    "signature": r[3],
                    "created": r[4],
                    "note_line": r[5],
                }
                for r in cosignatures
            ),
        )

    # --- the PII review queue -----------------------------------------------------------------

    async def hold_for_review(
        self,
        items: Sequence[ReviewItem],
        objects: Sequence[NewObject],
        status: Callable[[list[InsertResult]], Status],
    ) -> list[InsertResult]:
        """Store a post's accepted objects, hold ``items`` for review and save the post's
        status resource, in one transaction."""
        leaves = [object_leaf_hash(o.body) for o in objects]
        async with self.db.transaction(write=True) as tx:
            await self.db.lock_ingest(tx)
            results = await self.db.objects.insert_in(tx, objects, leaves)
            for item in items:
                await tx.execute(
                    f"INSERT INTO review_queue ({REVIEW_COLS})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        item.review_id,
                        item.member,
                        item.status_id,
                        item.stix_id,
                        item.version,
                        orjson.dumps(list(item.findings)).decode(),
                        item.submitted_at,
                        item.state.value,
                        item.decided_at,
                        item.decided_by,
                        item.object.model_dump_json(),
                    ),
                )
            await insert_status(tx, status(list(results)))
        return results

    async def list_review(
        self, state: ReviewState | None = None, member_id: str | None = None
    ) -> list[ReviewItem]:
        where, params = ["1 = 1"], []
        if state is not None:
            where.append("state = ?")
            params.append(state.value)
        if member_id is not None:
            where.append("member = ?")
            params.append(member_id)
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT {REVIEW_COLS} FROM review_queue WHERE {' AND '.join(where)}"
                " ORDER BY submitted_at, review_id",
                tuple(params),
            )
        return [_review(r) for r in rows]

    async def decide_review(
        self, review_id: str, approve: bool, by: str, when: str, reason: str | None = None
    ) -> tuple[ReviewItem, list[InsertResult]]:
        """Approve (the object is stored, as if posted now) or reject a pending item; the
        object and the decision commit together."""
        async with self.db.transaction(write=True) as tx:
            await self.db.lock_ingest(tx)
            row = await tx.fetchone(
                f"SELECT {REVIEW_COLS} FROM review_queue WHERE review_id = ?", (review_id,)
            )
            if row is None:
                raise NotFound(f"no review item {review_id!r}")
            item = _review(row)
            if item.state is not ReviewState.PENDING:
                raise Conflict(f"review item {review_id} was {item.state.value} already")
            results: list[InsertResult] = []
            if approve:
                results = await self.db.objects.insert_in(
                    tx, [item.object], [object_leaf_hash(item.object.body)]
                )
            state = ReviewState.APPROVED if approve else ReviewState.REJECTED
            await tx.execute(
                "UPDATE review_queue SET state = ?, decided_at = ?, decided_by = ?"
                " WHERE review_id = ?",
                (state.value, when, by, review_id),
            )
            row = await tx.fetchone("SELECT body FROM statuses WHERE id = ?", (item.status_id,))
            if row is not None:  # kept still: the post's status says what became of it
                decided = decide_in_status(
                    Status.model_validate_json(row[0]), item, approve, results, reason
                )
                await tx.execute(
                    "UPDATE statuses SET body = ? WHERE id = ?",
                    (decided.model_dump_json(), item.status_id),
                )
        return item.model_copy(
            update={"state": state, "decided_at": when, "decided_by": by}
        ), results
