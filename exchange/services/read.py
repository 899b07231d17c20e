"""The one read path: every view of objects goes through ``Store.read_objects``,
which applies the sharing policy in its query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exchange.errors import InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from exchange.models import ObjectFilter, Page, Principal, ReadQuery, Status, StoredObject
from exchange.policy import ANONYMOUS
from exchange.services.periodic import Periodic
from exchange.store.base import Store
from exchange.taxii.cursor import Cursors
from exchange.taxii.filters import parse_filter, parse_limit
from exchange.timeutil import format_ts, now

BULLETINS = "bulletins"
PUBLIC = "public"


@dataclass(frozen=True)
class Collection:
    id: str
    alias: str
    title: str
    description: str
    anonymous: bool  # readable without authentication
    writable: bool


COLLECTIONS: tuple[Collection, ...] = (
    Collection(
        id="6f1c5a4e-3b0e-4f38-9c59-2f0b7d1e8a01",
        alias=BULLETINS,
        title="Bulletins",
        description="Signed bulletins of every member, each shown under its sharing rules",
        anonymous=False,
        writable=True,
    ),
    Collection(
        id="0d7b6c2a-9e41-4a5f-8b3d-5c2e1f9a7b02",
        alias=PUBLIC,
        title="Public",
        description="Every TLP:CLEAR object, readable without authentication",
        anonymous=True,
        writable=False,
    ),
)


def find_collection(key: str) -> Collection:
    for collection in COLLECTIONS:
        if key in (collection.id, collection.alias):
            return collection
    raise NotFound(f"no collection {key!r}")


def visible_collections(principal: Principal) -> list[Collection]:
    return [c for c in COLLECTIONS if c.anonymous or principal.is_member]


@dataclass(frozen=True)
class PageResult:
    objects: tuple[StoredObject, ...]
    more: bool
    next: str | None

    @property
    def first_added(self) -> str | None:
        return self.objects[0].date_added if self.objects else None

    @property
    def last_added(self) -> str | None:
        return self.objects[-1].date_added if self.objects else None


OBJECT_FILTERS = {"match[id]", "match[type]", "match[version]", "match[spec_version]"}
VERSION_FILTERS = {"match[spec_version]"}
OBJECT_BY_ID_FILTERS = {"match[version]", "match[spec_version]"}


class DeliveryLedger:
    """Records which member received which object version, in batches off the request path."""

    def __init__(self, store: Store, flush_seconds: float = 0.5) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self._pending: dict[str, dict[tuple[str, str], StoredObject]] = {}
        self._job = Periodic("delivery-ledger", self.flush, flush_seconds)

    def record(self, member: str, objects: Sequence[StoredObject]) -> None:
        bucket = self._pending.setdefault(member, {})
        for obj in objects:
            bucket.setdefault((obj.stix_id, obj.version), obj)

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        when = format_ts(now())
        for member, objects in pending.items():
            await self.store.statuses.record_deliveries(member, list(objects.values()), when)

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
        await self.flush()


class ReadService:
    def __init__(
        self,
        store: Store,
        cursors: Cursors,
        default_limit: int,
        max_limit: int,
        ledger: DeliveryLedger | None = None,
    ) -> None:
        self.store = store
        self.cursors = cursors
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.ledger = ledger

    async def status(self, principal: Principal, status_id: str) -> Status:
        """A status resource, for the member that posted it only (else ``NotFound``)."""
        found = await self.store.statuses.get_status(status_id)
        if found is None or found.member != principal.member:
            raise NotFound("no such status")
        return found

    async def head(self) -> int:
        """The seq of the latest stored object version (where a stream starts)."""
        return await self.store.objects.latest_seq()

    async def stream_page(self, reader: Principal, query: ReadQuery) -> Page:
        """One page of what ``reader`` may read (the stream's catch-up; no paging state)."""
        return await self.store.objects.read_objects(reader, query)

    @staticmethod
    def reader(principal: Principal, collection: Collection) -> Principal:
        """The principal a collection is read as: ``public`` is everyone's anonymous view."""
        if collection.anonymous:
            return ANONYMOUS
        if not principal.is_member:
            raise NotAuthenticated("this collection needs an API token")
        return principal

    def _delivered(self, principal: Principal, objects: Sequence[StoredObject]) -> None:
        if self.ledger is not None and principal.member is not None:
            self.ledger.record(principal.member, objects)

    async def page(
        self,
        principal: Principal,
        collection: Collection,
        params: Mapping[str, Sequence[str]],
        *,
        scope: str,
        allow: set[str],
        fixed: ObjectFilter | None = None,
        with_body: bool = True,
    ) -> PageResult:
        """One page of a view, for objects, manifest, versions and object-by-id alike."""
        reader = self.reader(principal, collection)
        limit = parse_limit(params, self.default_limit, self.max_limit)
        cursor_scope = f"{collection.id}:{scope}:{principal.member or ''}"
        default_versions = ("all",) if scope.startswith("versions") else ("last",)
        flt = parse_filter(params, allow=allow, default_versions=default_versions)
        if fixed is not None:
            flt = flt.model_copy(
                update={"ids": fixed.ids, "versions": fixed.versions}
                if scope.startswith("versions")
                else {"ids": fixed.ids}
            )
        after = 0
        next_values = params.get("next", [])
        if next_values:
            # The cursor holds the filters it was made for; a request asking for others
            # would get pages of another query: refuse it rather than answer it.
            sealed, after = self.cursors.decode(cursor_scope, next_values[-1])
            if sealed != flt:
                raise InvalidInput(
                    "the filters differ from those the next cursor was made for: send the "
                    "same added_after and match[...] filters with next (limit may change)"
                )
        page: Page = await self.store.objects.read_objects(
            reader,
            ReadQuery(collection=collection.alias, filter=flt, after_seq=after, limit=limit),
            with_body=with_body,
        )
        next_cursor = (
            self.cursors.encode(cursor_scope, flt, page.objects[-1].seq)
            if page.more and page.objects
            else None
        )
        return PageResult(objects=page.objects, more=page.more, next=next_cursor)

    async def objects(
        self, principal: Principal, collection: Collection, params: Mapping[str, Sequence[str]]
    ) -> PageResult:
        result = await self.page(
            principal, collection, params, scope="objects", allow=OBJECT_FILTERS
        )
        self._delivered(principal, result.objects)
        return result

    async def manifest(
        self, principal: Principal, collection: Collection, params: Mapping[str, Sequence[str]]
    ) -> PageResult:
        return await self.page(
            principal, collection, params, scope="manifest", allow=OBJECT_FILTERS, with_body=False
        )

    async def object(
        self,
        principal: Principal,
        collection: Collection,
        stix_id: str,
        params: Mapping[str, Sequence[str]],
    ) -> PageResult:
        result = await self.page(
            principal,
            collection,
            params,
            scope=f"object:{stix_id}",
            allow=OBJECT_BY_ID_FILTERS,
            fixed=ObjectFilter(ids=(stix_id,)),
        )
        if not result.objects and not params.get("next"):
            raise NotFound(f"no object {stix_id}")
        self._delivered(principal, result.objects)
        return result

    async def versions(
        self,
        principal: Principal,
        collection: Collection,
        stix_id: str,
        params: Mapping[str, Sequence[str]],
    ) -> PageResult:
        result = await self.page(
            principal,
            collection,
            params,
            scope=f"versions:{stix_id}",
            allow=VERSION_FILTERS,
            fixed=ObjectFilter(ids=(stix_id,), versions=("all",)),
            with_body=False,
        )
        if not result.objects and not params.get("next"):
            raise NotFound(f"no object {stix_id}")
        return result

    async def delete(
        self,
        principal: Principal,
        collection: Collection,
        stix_id: str,
        params: Mapping[str, Sequence[str]],
    ) -> int:
        # The reader's own inbound filters choose what it receives; they never stop a
        # publisher from withdrawing its object.
        reader = self.reader(principal, collection).model_copy(update={"inbound": ()})
        flt = parse_filter(params, allow=OBJECT_BY_ID_FILTERS, default_versions=("all",))
        page = await self.store.objects.read_objects(
            reader,
            ReadQuery(
                collection=collection.alias,
                filter=flt.model_copy(update={"ids": (stix_id,)}),
                limit=10_000,
            ),
            with_body=False,
        )
        if not page.objects:
            raise NotFound(f"no object {stix_id}")
        if collection.anonymous or not collection.writable:
            raise PermissionDenied("objects are withdrawn through the bulletins collection")
        if principal.identity is None or any(
            o.author_identity != principal.identity for o in page.objects
        ):
            raise PermissionDenied("only the publisher of an object may delete it")
        if not principal.can_write:
            raise PermissionDenied("this token is read-only")
        versions = None if set(flt.versions) == {"all"} else [o.version for o in page.objects]
        return await self.store.objects.delete_objects(stix_id, versions, format_ts(now()))
