"""Build every service over one store; bootstrap what the exchange owns (its identity, its
signing key, the extension definitions). Used by the app factory and by the admin CLI."""

from __future__ import annotations

import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exchange.config import Settings
from exchange.crypto import new_secret
from exchange.models import Tlp
from exchange.policy import TLP_MARKING_IDS
from exchange.schemas import definitions_text
from exchange.services.anonymous import (
    ANONYMOUS_ID_SECRET,
    ANONYMOUS_IDENTITY_SECRET,
    ANONYMOUS_KEY_SECRET,
    AnonymousSource,
)
from exchange.services.auth import AuthService
from exchange.services.coalesce import Coalescer
from exchange.services.federation import PeerService
from exchange.services.keys import KeyService
from exchange.services.members import MemberService
from exchange.services.notify import Notifier
from exchange.services.pii import PiiScreen
from exchange.services.public import PublicService
from exchange.services.publish import PublishService
from exchange.services.read import DeliveryLedger, ReadService
from exchange.services.retention import RetentionService
from exchange.services.translog import LogService, log_origin
from exchange.store.base import Store, open_store
from exchange.taxii.cursor import Cursors
from exchange.taxii.envelope import RawObject, split_array
from exchange.timeutil import now_ms, stix_ts

EXCHANGE_IDENTITY_SECRET = "exchange_identity"
CURSOR_SECRET = "cursor_mac_key"


@dataclass
class Services:
    settings: Settings
    store: Store
    exchange_identity: str
    keys: KeyService
    auth: AuthService
    publish: PublishService
    read: ReadService
    members: MemberService
    ledger: DeliveryLedger
    public: PublicService
    log: LogService
    retention: RetentionService
    peers: PeerService
    # Wake-ups for the event streams; set by the app factory (the admin CLI has none).
    notifier: Notifier | None = None
    coalescer: Coalescer = field(default_factory=Coalescer)


def _stamp() -> str:
    return stix_ts(now_ms())


def extension_definitions() -> list[RawObject]:
    """The exchange's extension definitions, each with its exact text in the file
    ``exchange/schemas/extension-definitions.json`` (the project's ``schemas/`` holds the
    same file): they are stored and served byte-identical to it, unsigned."""
    return split_array(definitions_text())


async def bootstrap(
    store: Store,
    keys: KeyService,
    publish: PublishService,
    identity: str,
    anonymous_identity: str | None = None,
) -> None:
    """Store the exchange's own objects once (idempotent, safe across workers): its signed
    identity (and its anonymous source's), and its extension definitions unsigned, as in
    the schema file."""
    stamp = _stamp()
    own_identity: dict[str, Any] = {
        "type": "identity",
        "spec_version": "2.1",
        "id": identity,
        "created": stamp,
        "modified": stamp,
        "name": "The exchange",
        "identity_class": "system",
        "description": "The exchange itself: signs member identities and its own objects",
        "object_marking_refs": [TLP_MARKING_IDS[Tlp.CLEAR]],
    }
    if not await store.objects.object_authors([identity]):
        await publish.store_own([own_identity])
    if anonymous_identity is not None and not await store.objects.object_authors(
        [anonymous_identity]
    ):
        await publish.store_own(
            [
                {
                    "type": "identity",
                    "spec_version": "2.1",
                    "id": anonymous_identity,
                    "created": stamp,
                    "modified": stamp,
                    "name": "Anonymous source",
                    "identity_class": "unknown",
                    "description": "Objects members of the exchange submitted anonymously: "
                    "published and signed by the exchange; their authors are known only to "
                    "its administrators",
                    "object_marking_refs": [TLP_MARKING_IDS[Tlp.CLEAR]],
                }
            ]
        )
    await publish.store_definitions(extension_definitions())


async def anonymous_source(store: Store, keys: KeyService, settings: Settings) -> AnonymousSource:
    """The exchange's anonymous source: its identity and key (made once, like the
    exchange's own) and the secret its copies' ids are derived under."""
    raw = await store.get_or_create_secret(
        ANONYMOUS_IDENTITY_SECRET, f"identity--{uuid.uuid4()}".encode()
    )
    identity = raw.decode("ascii")
    return AnonymousSource(
        identity=identity,
        # valid since the epoch: a copy's timestamps are floored, to before the key was made
        key=await keys.exchange_key(
            identity, ANONYMOUS_KEY_SECRET, datetime(1970, 1, 1, tzinfo=UTC)
        ),
        id_secret=await store.get_or_create_secret(ANONYMOUS_ID_SECRET, new_secret()),
        delay_seconds=settings.anonymous_delay_seconds,
        granularity_seconds=settings.anonymous_granularity_seconds,
    )


async def open_services(
    settings: Settings, executor: Executor | None = None, store: Store | None = None
) -> Services:
    store = store or open_store(settings.db)
    await store.open()
    identity_raw = await store.get_or_create_secret(
        EXCHANGE_IDENTITY_SECRET, f"identity--{uuid.uuid4()}".encode()
    )
    identity = identity_raw.decode("ascii")
    keys = KeyService(store)
    exchange_key = await keys.exchange_key(identity)
    anonymous = await anonymous_source(store, keys, settings)
    screen = PiiScreen(
        settings.pii_patterns, settings.pii_allow_fields, enabled=settings.pii_screening
    )
    publish = PublishService(
        store, identity, exchange_key, executor, anonymous, screen, settings.validator
    )
    await bootstrap(store, keys, publish, identity, anonymous.identity)
    cursors = Cursors(await store.get_or_create_secret(CURSOR_SECRET, new_secret()))
    ledger = DeliveryLedger(store)
    read = ReadService(store, cursors, settings.default_page_size, settings.max_page_size, ledger)
    auth = AuthService(store)
    origin = log_origin(settings.log_origin, settings.public_url, settings.host, settings.port)
    translog = LogService(store, read, settings.log_head_seconds, origin)
    await translog.ensure_key()
    return Services(
        settings=settings,
        store=store,
        exchange_identity=identity,
        keys=keys,
        auth=auth,
        publish=publish,
        read=read,
        members=MemberService(store, publish),
        ledger=ledger,
        public=PublicService(store, read),
        log=translog,
        retention=RetentionService(store, settings.retention, identity),
        peers=PeerService(store, await PeerService.token_secret(store)),
    )
