"""Federation, the importing side (docs/federation.md): pull over TAXII 2.1 what each peer
exchange lets this one read, trusting nothing but its authors' signatures and its log.

For each peer (``exchange admin peer add``) a pull, under a lease in the database so that
one worker pulls a peer at a time:

1. mirror the peer's key directory (revocations withdraw here what they cover);
2. read a page of objects from the cursor kept in the database (``added_after``, and the
   peer's ``next`` within a query), every version;
3. take the peer's signed tree head, check its signature with the peer's log key and its
   consistency with the last head seen (a fork or a shrunk log stops the pull);
4. ask for the inclusion proof of each object under that head, check it against the bytes;
5. check each object as posting would (structure, STIX, signature), with the key taken from
   that peer's directory for the object's author, valid at the object's time;
6. store the objects as they came (their bytes, their authors), the proofs and the new
   cursor in one transaction. Each is a leaf of this exchange's log, as every insert is.

An object that came from here (signed with a local key, or authored by a local member or
this exchange) is never imported back; one arriving through two peers is stored once.
The peer's event stream, when it answers, wakes the pull at once; polling is the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import structlog

from exchange.crypto import (
    VerifyKey,
    b64url_decode,
    b64url_encode,
    new_secret,
    object_leaf_hash,
    seal,
    signature_block,
    unseal,
    verify_json,
)
from exchange.errors import ExchangeError, InvalidInput, PeerMisbehaving, RefusalCode
from exchange.models import (
    InsertOutcome,
    Key,
    Peer,
    PeerKey,
    PeerProof,
    Principal,
    PullProgress,
    key_window_problem,
)
from exchange.policy import STAYS_HOME, TLP_MARKINGS, imported_entries
from exchange.services.publish import (
    AuthorshipCheck,
    Batch,
    Candidate,
    Check,
    InsertListener,
    SharingCheck,
    StructureCheck,
    new_object,
    run_cpu_stage,
    version_time,
    well_formed_signature,
)
from exchange.services.translog import LogService
from exchange.stix.types import is_observable
from exchange.stix.validate import ValidatorName
from exchange.store.base import Store
from exchange.taxii.envelope import RawObject, split_envelope
from exchange.timeutil import format_ts, normalise_ts, now, parse_ts
from exchange.translog.merkle import verify_consistency, verify_inclusion

log = structlog.get_logger("exchange.federation")

PEER_TOKEN_SECRET = "peer_token_key"
TAXII = "application/taxii+json;version=2.1"
PAGE_SIZE = 500
PAGES_PER_PULL = 20  # then the next peer gets its turn; the next pull goes on from the cursor
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_PROBLEMS = 20
LEASE = timedelta(seconds=60)
# How long another peer may take to say which heads of a log it saw, and how often a head
# that did not change is compared with theirs again (a fork shown after it was checked).
WITNESS_SECONDS = 5.0
WITNESS_RECHECK = 30.0
_SKIPPED = "[skipped]"
_HOME = "[home] it came from this exchange"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def peer_json(peer: Peer) -> dict[str, Any]:
    """What ``peer show`` prints: never the token."""
    return {
        "name": peer.name,
        "url": peer.url,
        "imported": peer.imported,
        "last_pull": peer.last_pull,
        "cursor": peer.added_after,
        "peer_tree_size": peer.tree_size,
        "problems": list(peer.problems),
    }


def peer_key_json(key: PeerKey) -> dict[str, object]:
    """A mirrored key as the key directory lists it: ``exchange`` says whose it is."""
    return {
        "key_id": key.key_id,
        "member": None,
        "identity": key.identity,
        "public_key": key.public_key,
        "not_before": format_ts(key.not_before),
        "not_after": format_ts(key.not_after) if key.not_after else None,
        "revoked_since": format_ts(key.revoked_since) if key.revoked_since else None,
        "exchange": key.exchange,
    }


def _context(name: str) -> bytes:
    return b"peer-token\0" + name.encode("utf-8")


class PeerService:
    """``exchange admin peer add|list|show|remove``."""

    def __init__(self, store: Store, secret: bytes) -> None:
        self.store = store
        self.secret = secret

    @staticmethod
    async def token_secret(store: Store) -> bytes:
        return await store.get_or_create_secret(PEER_TOKEN_SECRET, new_secret())

    async def add(self, name: str, url: str, token: str) -> Peer:
        if not _NAME.match(name):
            raise InvalidInput("a peer's name is 1 to 64 letters, digits, '.', '_' or '-'")
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", url):
            raise InvalidInput(f"{url!r} is not an http(s) API root URL")
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            raise InvalidInput("the token must be printable ASCII without spaces")
        peer = Peer(name=name, url=url.rstrip("/") + "/", created=format_ts(now()))
        sealed = b64url_encode(seal(self.secret, token.encode("ascii"), _context(name)))
        await self.store.peers.add_peer(peer, sealed)
        return peer

    async def token(self, name: str) -> str:
        raw = unseal(
            self.secret, b64url_decode(await self.store.peers.peer_token(name)), _context(name)
        )
        if raw is None:
            raise ExchangeError(f"the token of peer {name!r} cannot be unsealed")
        return raw.decode("ascii")

    async def list(self) -> list[Peer]:
        return await self.store.peers.list_peers()

    async def show(self, name: str) -> Peer:
        return await self.store.peers.get_peer(name)

    async def heads_seen(self) -> tuple[dict[str, Any], ...]:
        """The last head of each peer's log this exchange checked, as that peer's log key
        signed it: other exchanges compare them with the heads they see (a fork shows)."""
        heads = [json.loads(p.head) for p in await self.store.peers.list_peers() if p.head]
        return tuple(h for h in heads if isinstance(h, dict))

    async def remove(self, name: str) -> None:
        await self.store.peers.remove_peer(name)


# --- talking to a peer -------------------------------------------------------------------


@dataclass(frozen=True)
class SignedHead:
    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str

    def signed_part(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp,
            "key_id": self.key_id,
        }

    def to_text(self) -> str:
        return json.dumps({**self.signed_part(), "signature": self.signature}, sort_keys=True)

    @staticmethod
    def parse(value: Any) -> SignedHead:
        if not isinstance(value, dict):
            raise PeerMisbehaving("the log head is not a JSON object")
        size, root = value.get("tree_size"), value.get("root_hash")
        stamp, key_id, sig = value.get("timestamp"), value.get("key_id"), value.get("signature")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise PeerMisbehaving("the log head has no tree_size")
        if not (isinstance(root, str) and re.fullmatch(r"[0-9a-f]{64}", root)):
            raise PeerMisbehaving("the log head's root_hash is not 32 bytes of hex")
        if not all(isinstance(v, str) for v in (stamp, key_id, sig)):
            raise PeerMisbehaving("the log head lacks timestamp, key_id or signature")
        return SignedHead(size, root, str(stamp), str(key_id), str(sig))


class PeerClient:
    """The peer's API over one aiohttp session, every answer bounded in size."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self.http = http
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}", "Accept": TAXII}

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole body, refused once it passes ``MAX_ANSWER_BYTES``."""
        parts: list[bytes] = []
        size = 0
        while chunk := await response.content.read(1 << 16):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise PeerMisbehaving(
                    f"an answer of {self.url} is larger than {MAX_ANSWER_BYTES} bytes"
                )
            parts.append(chunk)
        return b"".join(parts)

    async def get(self, path: str, params: dict[str, str] | None = None) -> tuple[bytes, Any]:
        async with self.http.get(self.url + path, params=params, headers=self.headers) as r:
            body = await self._read(r)
            if r.status != 200:
                raise ExchangeError(f"GET {path} answered {r.status}")
            return body, r.headers

    async def json(self, path: str, params: dict[str, str] | None = None) -> Any:
        body, _ = await self.get(path, params)
        return _decode(body, path)

    async def post_json(self, path: str, value: Any) -> Any:
        data = json.dumps(value).encode("utf-8")
        headers = {**self.headers, "Content-Type": TAXII}
        async with self.http.post(self.url + path, data=data, headers=headers) as r:
            body = await self._read(r)
            if r.status not in (200, 201):
                raise ExchangeError(f"POST {path} answered {r.status}")
            return _decode(body, path)


def _decode(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PeerMisbehaving(f"the answer to {what} is not JSON") from exc


def parse_directory(body: Any, peer_url: str) -> list[PeerKey]:
    """The keys of a peer's key directory, each with the exchange it belongs to (the
    peer's, unless the peer lists it as mirrored from another)."""
    entries = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise PeerMisbehaving("the key directory has no 'keys' list")
    keys: list[PeerKey] = []
    for entry in entries:
        try:
            public = VerifyKey.from_pem(str(entry["public_key"]))
            if public.key_id != entry["key_id"]:
                continue  # a key id that is not its key's: never usable
            home = entry.get("exchange")
            keys.append(
                PeerKey(
                    key_id=public.key_id,
                    identity=str(entry["identity"]),
                    public_key=public.pem(),
                    not_before=parse_ts(entry["not_before"]),
                    not_after=parse_ts(entry["not_after"]) if entry.get("not_after") else None,
                    revoked_since=parse_ts(entry["revoked_since"])
                    if entry.get("revoked_since")
                    else None,
                    exchange=str(home) if isinstance(home, str) and home else peer_url,
                    created=now(),
                )
            )
        except (KeyError, TypeError, ExchangeError):
            continue  # a malformed entry is no key
    return keys


# --- checking what a peer sends ------------------------------------------------------------


class PeerSignatureCheck:
    """The signing key: in the peer's key directory for the object's author, valid at the
    object's time; then STIX validity and the signature, off the event loop. An object
    that came from this exchange is dropped (``home``), not refused."""

    def __init__(
        self,
        store: Store,
        peer: str,
        exchange_identity: str,
        executor: Executor | None,
        validator: ValidatorName = "fast",
    ) -> None:
        self.store = store
        self.peer = peer
        self.exchange_identity = exchange_identity
        self.executor = executor
        self.validator: ValidatorName = validator

    async def __call__(self, batch: Batch) -> None:
        live = batch.live
        key_ids = {
            k
            for c in live
            if (b := signature_block(c.value)) is not None and isinstance(k := b.get("key_id"), str)
        }
        keys = await self.store.peers.peer_keys(self.peer, sorted(key_ids))
        local: dict[str, bool] = {}
        for c in live:
            block = well_formed_signature(c)
            if block is None:
                continue
            key_id = str(block.get("key_id"))
            if key_id not in local:
                local[key_id] = await self.store.members.get_key(key_id) is not None
            author = c.value.get("created_by_ref")
            if local[key_id] or await self._is_home(author):
                c.failure = _HOME  # it came from here: never imported back
                continue
            mirrored = keys.get(key_id)
            if mirrored is None:
                c.refuse(
                    RefusalCode.KEY_UNKNOWN, f"key {key_id} is not in the peer's key directory"
                )
                continue
            if is_observable(c.value):
                if author is not None:
                    c.refuse(
                        RefusalCode.OBSERVABLE_AUTHOR,
                        "a cyber-observable carries no created_by_ref",
                    )
                    continue
                author = mirrored.identity
            if not isinstance(author, str):
                c.refuse(RefusalCode.AUTHOR_MISSING, "created_by_ref is missing")
                continue
            if mirrored.identity != author:
                c.refuse(
                    RefusalCode.KEY_NOT_AUTHOR,
                    f"key {key_id} is not a key of {author} in the peer's key directory",
                )
                continue
            when = c.version_text
            at = parse_ts(when) if when else now()
            why = key_window_problem(mirrored, at)
            if why is not None:
                revoked = mirrored.revoked_since is not None and at >= mirrored.revoked_since
                c.refuse(RefusalCode.KEY_REVOKED if revoked else RefusalCode.KEY_NOT_VALID, why)
                continue
            c.key = Key(
                key_id=mirrored.key_id,
                member=None,
                identity=mirrored.identity,
                public_key=mirrored.public_key,
                not_before=mirrored.not_before,
                not_after=mirrored.not_after,
                revoked_since=mirrored.revoked_since,
                created=mirrored.created,
            )
            c.author_identity = author
        await self._cpu(batch.live)

    async def _is_home(self, author: object) -> bool:
        if not isinstance(author, str):
            return False
        if author == self.exchange_identity:
            return True
        return await self.store.members.get_member_by_identity(author) is not None

    async def _cpu(self, items: list[Candidate]) -> None:
        await run_cpu_stage(items, self.executor, self.validator)


class StaysHomeCheck:
    """TLP:AMBER+STRICT and RED never leave their home exchange: a peer that sends one is
    refused it. ``group:`` entries of what is imported are stored as ``home-group:``."""

    async def __call__(self, batch: Batch) -> None:
        for c in batch.live:
            if c.tlp in STAYS_HOME:
                c.failure = "[stays-home] TLP:AMBER+STRICT and TLP:RED never leave their home"
                continue
            c.audience = imported_entries(c.audience)
            if c.audience_entries is not None:
                c.audience_entries = imported_entries(c.audience_entries)


def _problem(items: list[str], message: str) -> tuple[str, ...]:
    line = f"{format_ts(now())} {message}"
    kept = [p for p in items if p.split(" ", 1)[-1] != message]
    return tuple([*kept, line][-MAX_PROBLEMS:])


# --- the pull ------------------------------------------------------------------------------


class Importer:
    """Pulls every peer, one worker per peer at a time (the lease), from its cursor."""

    def __init__(
        self,
        store: Store,
        peers: PeerService,
        exchange_identity: str,
        every_seconds: float,
        executor: Executor | None = None,
        listeners: Sequence[InsertListener] = (),
        validator: ValidatorName = "fast",
        log: LogService | None = None,
    ) -> None:
        self.store = store
        self.peers = peers
        self.log = log
        # which head of each peer was last compared with the other peers' and cosigned, when
        self._witnessed: dict[str, tuple[SignedHead, float]] = {}
        self._cosign_refused: set[str] = set()
        self.exchange_identity = exchange_identity
        self.every = every_seconds
        self.executor = executor
        self.validator: ValidatorName = validator
        self.listeners = list(listeners)
        self.owner = str(uuid.uuid4())
        self.wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._streams: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60, sock_connect=10, sock_read=30)
        )
        self._task = asyncio.create_task(self._loop(), name="federation-pull")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._streams.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        self._streams.clear()
        with contextlib.suppress(ExchangeError):
            for peer in await self.store.peers.list_peers():
                await self.store.peers.release_lease(peer.name, self.owner)
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.pull_all()
            except ExchangeError as exc:  # the database briefly away: next time
                log.warning("federation pull failed", error=exc.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.every)
            self.wake.clear()

    async def pull_all(self) -> None:
        peers = await self.store.peers.list_peers()
        self._keep_streams(peers)
        for peer in peers:
            moment = now()
            if await self.store.peers.take_lease(
                peer.name, self.owner, format_ts(moment), format_ts(moment + LEASE)
            ):
                await self.pull(peer.name)

    # --- streams: a wake-up as soon as the peer has something --------------------------------

    def _keep_streams(self, peers: Sequence[Peer]) -> None:
        wanted = {p.name: p for p in peers}
        for name in list(self._streams):
            if name not in wanted:
                self._streams.pop(name).cancel()
        for name, peer in wanted.items():
            if name not in self._streams or self._streams[name].done():
                self._streams[name] = asyncio.create_task(
                    self._listen(peer), name=f"federation-stream-{name}"
                )

    async def _listen(self, peer: Peer) -> None:
        """Wake the pull on every event of the peer's stream; without a stream (or when it
        ends) the poll every ``every`` seconds carries on alone."""
        assert self._http is not None
        backoff = 1.0
        while True:
            try:
                token = await self.peers.token(peer.name)
                headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
                timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
                async with self._http.get(
                    peer.url + "collections/bulletins/events/", headers=headers, timeout=timeout
                ) as r:
                    if r.status == 200:
                        backoff = 1.0
                        async for line in r.content:
                            if line.startswith(b"data:"):
                                self.wake.set()
            except (aiohttp.ClientError, TimeoutError, ExchangeError, ValueError):
                pass
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max(self.every, 1.0) * 4)

    # --- one peer ------------------------------------------------------------------------------

    async def pull(self, name: str) -> int:
        """Pull ``name`` from its cursor (the caller holds its lease); how many objects were
        imported. A peer that cannot be reached or misbehaves gets a line in ``problems``."""
        assert self._http is not None
        peer = await self.store.peers.get_peer(name)
        client = PeerClient(self._http, peer.url, await self.peers.token(name))
        problems = list(peer.problems)
        imported = 0
        try:
            directory = parse_directory(await client.json("keys/"), peer.url)
            await self.store.peers.mirror_keys(
                name, [k for k in directory if not await self._local_key(k)]
            )
            log_keys = await self._log_keys(client)
            for _ in range(PAGES_PER_PULL):
                peer = await self.store.peers.get_peer(name)
                count, more = await self._pull_page(peer, client, log_keys)
                imported += count
                if not more:
                    break
            return imported
        except PeerMisbehaving as exc:
            problems = list(_problem(problems, exc.message))
            log.warning("peer misbehaving", peer=name, problem=exc.message)
        except (aiohttp.ClientError, TimeoutError) as exc:
            problems = list(_problem(problems, f"unreachable: {type(exc).__name__}"))
        except ExchangeError as exc:
            if exc.message.startswith(("GET ", "POST ")):
                problems = list(_problem(problems, exc.message))
            else:
                raise
        peer = await self.store.peers.get_peer(name)
        await self.store.peers.save_progress(
            name,
            PullProgress(
                added_after=peer.added_after,
                next_cursor=peer.next_cursor,
                head=peer.head,
                tree_size=peer.tree_size,
                last_pull=peer.last_pull or format_ts(now()),
                problems=tuple(problems),
            ),
        )
        return imported

    async def _local_key(self, key: PeerKey) -> bool:
        """A key of this exchange's own directory (a peer listing ours back) or one naming a
        local member or this exchange as owner: never taken from a peer."""
        if await self.store.members.get_key(key.key_id) is not None:
            return True
        # this exchange's log key, registered on the peer so that it can cosign there
        if self.log is not None and any(
            k.key_id == key.key_id for k in await self.log.key_history()
        ):
            return True
        if key.identity == self.exchange_identity:
            return True
        return await self.store.members.get_member_by_identity(key.identity) is not None

    async def _log_keys(self, client: PeerClient) -> dict[str, VerifyKey]:
        body = await client.json("log/key/")
        entries = [body, *(body.get("history") or [])] if isinstance(body, dict) else []
        keys: dict[str, VerifyKey] = {}
        for entry in entries:
            try:
                key = VerifyKey.from_pem(str(entry["public_key"]))
            except (KeyError, TypeError, ExchangeError):
                continue
            if key.key_id == entry.get("key_id"):
                keys[key.key_id] = key
        if not keys:
            raise PeerMisbehaving("the peer's log key is missing or malformed")
        return keys

    async def _head(
        self, peer: Peer, client: PeerClient, log_keys: dict[str, VerifyKey]
    ) -> SignedHead:
        """The peer's signed head now, consistent with the last one seen."""
        head = SignedHead.parse(await client.json("log/"))
        key = log_keys.get(head.key_id)
        if key is None or not verify_json(key, head.signed_part(), head.signature):
            raise PeerMisbehaving("the peer's log head is not signed by its log key")
        if peer.head is None:
            return head
        last = SignedHead.parse(json.loads(peer.head))
        if head.tree_size < last.tree_size:
            raise PeerMisbehaving(
                f"the peer's log shrank from {last.tree_size} to {head.tree_size} leaves"
            )
        await self._consistent(client, last, head, "seen before")
        return head

    async def _consistent(
        self, client: PeerClient, one: SignedHead, other: SignedHead, whose: str
    ) -> None:
        """Two heads the peer's log key signed are of one log: equal at one size, else the
        peer proves the larger extends the smaller. PeerMisbehaving (a fork) when not."""
        first, second = sorted((one, other), key=lambda h: h.tree_size)
        if first.tree_size == second.tree_size:
            if first.root_hash != second.root_hash:
                raise PeerMisbehaving(
                    f"the peer's log forked at tree size {first.tree_size} (the head {whose})"
                )
            return
        if first.tree_size == 0:
            return
        body = await client.json(
            "log/consistency/", {"first": str(first.tree_size), "second": str(second.tree_size)}
        )
        proof = body.get("proof") if isinstance(body, dict) else None
        try:
            path = [bytes.fromhex(p) for p in proof] if isinstance(proof, list) else None
        except (TypeError, ValueError):
            path = None
        if path is None or not verify_consistency(
            first.tree_size,
            second.tree_size,
            bytes.fromhex(first.root_hash),
            bytes.fromhex(second.root_hash),
            path,
        ):
            raise PeerMisbehaving(
                f"the peer's log forked: its heads of {first.tree_size} and "
                f"{second.tree_size} leaves (one {whose}) are not of one log"
            )

    # --- witnessing: peers watch each other's logs ------------------------------------------

    async def _witness(
        self, peer: Peer, client: PeerClient, head: SignedHead, log_keys: dict[str, VerifyKey]
    ) -> None:
        """Compare the peer's head with the heads of its log that this exchange's other peers
        saw (``GET federation/heads/``, each signed by the peer's own log key), so that a peer
        showing one log to one exchange and another to the next is caught; then cosign the
        head on the peer (``POST log/cosignatures/``) as a witness. Once per head, and again
        after ``WITNESS_RECHECK``."""
        moment = asyncio.get_running_loop().time()
        last = self._witnessed.get(peer.name)
        if last is not None and last[0] == head and moment - last[1] < WITNESS_RECHECK:
            return
        for other in await self.store.peers.list_peers():
            if other.name == peer.name:
                continue
            for seen in await self._heads_seen_by(other, log_keys):
                await self._consistent(client, seen, head, f"exchange {other.name} saw")
        self._witnessed[peer.name] = (head, moment)
        await self._cosign(peer, client, head)

    async def _heads_seen_by(self, other: Peer, log_keys: dict[str, VerifyKey]) -> list[SignedHead]:
        """The heads ``other`` says it saw that the log keys in ``log_keys`` signed. A witness
        that does not answer (or lies: its heads do not verify) proves nothing either way."""
        assert self._http is not None
        client = PeerClient(self._http, other.url, await self.peers.token(other.name))
        try:
            body = await asyncio.wait_for(client.json("federation/heads/"), WITNESS_SECONDS)
        except (aiohttp.ClientError, TimeoutError, ExchangeError):
            return []
        found: list[SignedHead] = []
        entries = body.get("heads") if isinstance(body, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            try:
                seen = SignedHead.parse(entry)
            except PeerMisbehaving:
                continue
            key = log_keys.get(seen.key_id)
            if key is not None and verify_json(key, seen.signed_part(), seen.signature):
                found.append(seen)
        return found

    async def _cosign(self, peer: Peer, client: PeerClient, head: SignedHead) -> None:
        """Cosign the peer's head with this exchange's log key. The peer keeps it only when
        that key is registered there for this exchange's member (``exchange admin key add``);
        a refusal is logged once, not a problem of the pull."""
        if self.log is None:
            return
        key_id, signature = await self.log.witness_signature(head.signed_part())
        cosignature = {
            "tree_size": head.tree_size,
            "root_hash": head.root_hash,
            "key_id": key_id,
            "signature": signature,
        }
        try:
            await client.post_json("log/cosignatures/", cosignature)
        except (aiohttp.ClientError, TimeoutError, ExchangeError) as exc:
            if peer.name not in self._cosign_refused:
                self._cosign_refused.add(peer.name)
                log.info(
                    "peer did not take this exchange's cosignature",
                    peer=peer.name,
                    key_id=key_id,
                    error=str(exc),
                )
        else:
            self._cosign_refused.discard(peer.name)

    async def _pull_page(
        self, peer: Peer, client: PeerClient, log_keys: dict[str, VerifyKey]
    ) -> tuple[int, bool]:
        params = {"match[version]": "all", "limit": str(PAGE_SIZE)}
        if peer.added_after:
            params["added_after"] = peer.added_after
        if peer.next_cursor:
            params["next"] = peer.next_cursor
        body, headers = await client.get("collections/bulletins/objects/", params)
        try:
            envelope = json.loads(body)
            # an empty page is ``{}`` (TAXII 2.1 leaves out an empty ``objects``)
            has_objects = isinstance(envelope, dict) and "objects" in envelope
            raws = split_envelope(body) if has_objects else []
        except (ExchangeError, ValueError) as exc:
            detail = exc.message if isinstance(exc, ExchangeError) else str(exc)
            raise PeerMisbehaving(f"the objects answer is not a TAXII envelope: {detail}") from exc
        if not isinstance(envelope, dict):
            raise PeerMisbehaving("the objects answer is not a TAXII envelope")
        more = bool(envelope.get("more")) if isinstance(envelope, dict) else False
        next_cursor = envelope.get("next") if more and isinstance(envelope, dict) else None
        if more and not isinstance(next_cursor, str):
            raise PeerMisbehaving("the objects answer says more but gives no next")
        last_added = headers.get("X-TAXII-Date-Added-Last") or None
        if raws and last_added is None:
            raise PeerMisbehaving("the objects answer has no X-TAXII-Date-Added-Last")
        if last_added is not None:
            try:
                last_added = format_ts(parse_ts(last_added))
            except InvalidInput as exc:
                raise PeerMisbehaving("X-TAXII-Date-Added-Last is not a timestamp") from exc
        # the audience markings objects use, when they are neither here nor in the page
        raws = await self._with_markings(client, raws)
        head = await self._head(peer, client, log_keys)
        await self._witness(peer, client, head, log_keys)
        proofs = await self._proofs(peer, client, head, raws, log_keys)
        batch = Batch(
            poster=Principal(member=None, identity=None, matches=frozenset()),
            items=[Candidate(raw=r) for r in raws],
            exchange_identity=self.exchange_identity,
        )
        signatures = PeerSignatureCheck(
            self.store, peer.name, self.exchange_identity, self.executor, self.validator
        )
        checks: list[Check] = [
            StructureCheck(),
            _Skip(),
            _InLog(proofs),
            signatures,
            AuthorshipCheck(self.store),
            SharingCheck(self.store),
            StaysHomeCheck(),
        ]
        for check in checks:
            if batch.live:
                await check(batch)
        problems = peer.problems
        for index, c in enumerate(batch.items):
            if c.failure is not None and c.failure not in (_SKIPPED, _HOME):
                problems = _problem(
                    list(problems),
                    f"refused {c.failure_id(index)} {c.version_text or ''}: {c.failure}",
                )
        accepted = batch.live
        kept = [
            proofs[(c.stix_id, normalise_ts(c.version_text))]
            for c in accepted
            if c.version_text and (c.stix_id, normalise_ts(c.version_text)) in proofs
        ]
        progress = PullProgress(
            added_after=peer.added_after if more else (last_added or peer.added_after),
            next_cursor=next_cursor if more else None,
            head=head.to_text(),
            tree_size=head.tree_size,
            last_pull=format_ts(now()),
            problems=tuple(problems),
        )
        results = await self.store.peers.import_batch(
            peer.name, [new_object(c, None) for c in accepted], kept, progress
        )
        inserted = [r for r in results if r.outcome is InsertOutcome.INSERTED]
        if inserted:
            for listener in self.listeners:
                await listener(inserted)
        return len(inserted), more

    async def _with_markings(self, client: PeerClient, raws: list[RawObject]) -> list[RawObject]:
        in_page = {r.value.get("id") for r in raws if isinstance(r.value, dict)}
        wanted: set[str] = set()
        for r in raws:
            refs = r.value.get("object_marking_refs") if isinstance(r.value, dict) else None
            if isinstance(refs, list):
                wanted.update(
                    m for m in refs if isinstance(m, str) and m.startswith("marking-definition--")
                )
        wanted -= set(TLP_MARKINGS) | in_page
        held = await self.store.objects.object_authors(sorted(wanted))
        extra: list[RawObject] = []
        for marking in sorted(wanted - set(held))[:100]:
            with contextlib.suppress(ExchangeError):
                body, _ = await client.get(f"collections/bulletins/objects/{marking}/")
                extra.extend(
                    r
                    for r in split_envelope(body)
                    if isinstance(r.value, dict) and r.value.get("id") == marking
                )
        return [*extra, *raws]

    async def _proofs(
        self,
        peer: Peer,
        client: PeerClient,
        head: SignedHead,
        raws: list[RawObject],
        log_keys: dict[str, VerifyKey],
    ) -> dict[tuple[str, str], PeerProof]:
        """Verified inclusion proofs under ``head``, by (id, normalised version)."""
        wanted: dict[tuple[str, str], RawObject] = {}
        for r in raws:
            version = version_time(r.value) if isinstance(r.value, dict) else None
            stix_id = r.value.get("id") if isinstance(r.value, dict) else None
            if isinstance(stix_id, str) and version:
                try:
                    wanted[(stix_id, normalise_ts(version))] = r
                except InvalidInput:
                    continue
        out: dict[tuple[str, str], PeerProof] = {}
        if not wanted or head.tree_size == 0:
            return out
        items = [{"id": i, "version": v} for i, v in wanted]
        log_key = log_keys[head.key_id].pem()
        root = bytes.fromhex(head.root_hash)
        for start in range(0, len(items), 1000):
            body = await client.post_json(
                "log/inclusions/",
                {"tree_size": head.tree_size, "objects": items[start : start + 1000]},
            )
            for proof in body.get("proofs", []) if isinstance(body, dict) else []:
                try:
                    key = (str(proof["id"]), normalise_ts(str(proof["version"])))
                    index, path = (
                        int(proof["leaf_index"]),
                        [bytes.fromhex(p) for p in proof["audit_path"]],
                    )
                except (KeyError, TypeError, ValueError, InvalidInput):
                    continue
                raw = wanted.get(key)
                if raw is None or not verify_inclusion(
                    object_leaf_hash(raw.text), index, head.tree_size, path, root
                ):
                    continue
                out[key] = PeerProof(
                    stix_id=key[0],
                    version=key[1],
                    peer=peer.name,
                    exchange=peer.url,
                    leaf_index=index,
                    tree_size=head.tree_size,
                    audit_path=tuple(p.hex() for p in path),
                    head=head.to_text(),
                    log_key=log_key,
                )
        return out


class _Skip:
    """What every exchange has of its own and is not imported: the TLP definitions and the
    extension definitions (unsigned, the same everywhere)."""

    async def __call__(self, batch: Batch) -> None:
        for c in batch.live:
            if c.value.get("type") == "extension-definition" or c.value.get("id") in TLP_MARKINGS:
                c.failure = _SKIPPED


class _InLog:
    """Only what the peer's log holds under the head just checked (the bytes as served)."""

    def __init__(self, proofs: dict[tuple[str, str], PeerProof]) -> None:
        self.proofs = proofs

    async def __call__(self, batch: Batch) -> None:
        for c in batch.live:
            version = c.version_text
            key = (c.stix_id, normalise_ts(version)) if version else None
            if key is None or key not in self.proofs:
                c.failure = (
                    "[not-in-log] not in the peer's log under its signed head, as served "
                    "(no inclusion proof holds for these bytes)"
                )
