"""The transparency log service: the log key, signed tree heads, proofs and cosignatures.

Leaves are appended by the store in the transaction that stores each object version
(exchange.store.translog). This service signs heads over them, serves RFC 9162 proofs from
stored subtree hashes, and keeps members' cosignatures. See docs/transparency.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from exchange.crypto import (
    NOTE_COSIGNATURE_V1,
    NOTE_ED25519,
    SigningKey,
    VerifyKey,
    b64_decode,
    note_key_id,
    sign_json,
    verify_json,
)
from exchange.errors import ExchangeError, InvalidInput, LogCorrupt, NotAuthenticated, NotFound
from exchange.models import ObjectFilter, Principal, ReadQuery
from exchange.services.periodic import Periodic
from exchange.services.read import OBJECT_BY_ID_FILTERS, ReadService, find_collection
from exchange.store.base import Store
from exchange.timeutil import format_ts, normalise_ts, now
from exchange.translog.checkpoint import (
    checkpoint_body,
    cosignature_message,
    note,
    signature_line,
    valid_name,
)
from exchange.translog.heads import Cosignature, LogKey, TreeHead
from exchange.translog.merkle import (
    EMPTY_ROOT,
    Plan,
    consistency_plan,
    evaluate,
    inclusion_plan,
    nodes_of,
    root_plan,
)

log = structlog.get_logger("exchange.translog")
LOG_KEY_SECRET = "log_signing_key"
MAX_INCLUSIONS = 1000


@dataclass(frozen=True)
class Inclusion:
    leaf_index: int
    tree_size: int
    audit_path: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "audit_path": list(self.audit_path),
        }


def log_origin(configured: str | None, public_url: str | None, host: str, port: int) -> str:
    """The checkpoint's origin line (and the log key's note name): ``log_origin`` when set,
    else the public URL's host and API root, else the listening address's."""
    if configured:
        origin = configured
    elif public_url:
        origin = public_url.split("://", 1)[-1].rstrip("/") + "/api/v1/log"
    else:
        origin = f"{host}:{port}/api/v1/log"
    if not valid_name(origin):
        raise InvalidInput(f"log_origin {origin!r} must be non-empty, without spaces or '+'")
    return origin


def new_log_key() -> LogKey:
    private = SigningKey.generate()
    return LogKey(
        key_id=private.public.key_id,
        public_key=private.public.pem(),
        private_key=private.private_pem(),
        created=format_ts(now()),
    )


class LogService:
    def __init__(
        self,
        store: Store,
        read: ReadService,
        head_seconds: float = 2.0,
        origin: str = "exchange.invalid/api/v1/log",
    ) -> None:
        self.store = store
        self.read = read
        self.origin = origin
        self._job = Periodic("log-heads", self.make_head, head_seconds)

    # --- the log key ---------------------------------------------------------------------------

    async def ensure_key(self) -> LogKey:
        """The current log key, made on first start (one key, whichever worker comes first)."""
        keys = await self.store.log.log_keys()
        if keys and keys[0].not_after is None:
            return keys[0]
        # The secrets table settles a race between workers starting together.
        first = new_log_key()
        pem = await self.store.get_or_create_secret(LOG_KEY_SECRET, first.private_key)
        private = SigningKey.from_pem(pem)
        await self.store.log.add_log_key(
            LogKey(
                key_id=private.public.key_id,
                public_key=private.public.pem(),
                private_key=pem,
                created=format_ts(now()),
            ),
            retire_at=None,
        )
        return (await self.store.log.log_keys())[0]

    async def current_key(self) -> LogKey:
        keys = await self.store.log.log_keys()
        if not keys or keys[0].not_after is not None:
            return await self.ensure_key()
        return keys[0]

    async def rotate(self) -> tuple[LogKey, LogKey]:
        """Retire the current key now and sign the current tree with a new one: (new, old)."""
        old = await self.current_key()
        fresh = new_log_key()
        await self.store.log.add_log_key(fresh, retire_at=format_ts(now()))
        await self.make_head()
        return fresh, old

    async def key_history(self) -> list[LogKey]:
        return await self.store.log.log_keys()

    async def witness_signature(self, signed_part: dict[str, Any]) -> tuple[str, str]:
        """This exchange as a witness of another log (a peer's): its log key signs the bytes
        that log's key signed for a head it has checked. (key_id, signature)."""
        key = await self.current_key()
        return key.key_id, sign_json(SigningKey.from_pem(key.private_key), signed_part)

    # --- heads ---------------------------------------------------------------------------------

    async def _root(self, tree_size: int) -> bytes:
        plan = root_plan(tree_size)
        if plan is None:
            return EMPTY_ROOT
        return (await self._hashes([plan]))[0]

    async def _hashes(self, plans: list[Plan]) -> list[bytes]:
        held = await self.store.log.log_nodes(nodes_of(plans))
        try:
            return [evaluate(p, held) for p in plans]
        except KeyError as exc:
            raise LogCorrupt(f"the log has lost the stored subtree {exc.args[0]}") from exc

    async def make_head(self) -> TreeHead:
        """The newest signed head, signing a new one when the log grew or the key changed
        (safe with several workers: a head per size and key, the first one kept)."""
        size = await self.store.log.log_size()
        key = await self.current_key()
        latest = await self.store.log.log_head()
        if latest is not None and latest.tree_size == size and latest.key_id == key.key_id:
            return latest
        unsigned = TreeHead(
            tree_size=size,
            root_hash=(await self._root(size)).hex(),
            timestamp=format_ts(now()),
            key_id=key.key_id,
        )
        signature = sign_json(SigningKey.from_pem(key.private_key), unsigned.signed_part())
        await self.store.log.save_log_head(
            TreeHead(**{**unsigned.signed_part(), "signature": signature})
        )
        head = await self.store.log.log_head(size)
        assert head is not None
        return head

    async def head(self) -> TreeHead:
        """The head to serve: it covers every object stored before the request."""
        return await self.make_head()

    async def checkpoint(self, tree_size: int | None = None, witnesses: bool = True) -> str:
        """The served head (or the newest signed head of ``tree_size``) as a C2SP
        tlog-checkpoint signed note: the log's Ed25519 note signature (key name = origin),
        then members' tlog-cosignature lines."""
        found = await self.head() if tree_size is None else await self.store.log.log_head(tree_size)
        if found is None:
            raise NotFound(f"the log signed no head of size {tree_size}")
        head = found
        key = next(k for k in await self.store.log.log_keys() if k.key_id == head.key_id)
        private = SigningKey.from_pem(key.private_key)
        body = checkpoint_body(self.origin, head.tree_size, bytes.fromhex(head.root_hash))
        lines = [
            signature_line(
                self.origin,
                note_key_id(self.origin, NOTE_ED25519, private.public),
                private.sign(body.encode("utf-8")),
            )
        ]
        lines += [c.note_line for c in head.cosignatures if c.note_line]
        if witnesses:
            lines += await self.store.log.log_witness_lines(head)
        return note(body, lines)

    def cosigner_name(self, member: str) -> str:
        """The note key name under which a member's checkpoint cosignatures appear."""
        return f"{self.origin}/members/{member}"

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()

    # --- proofs --------------------------------------------------------------------------------

    async def inclusion(
        self, principal: Principal, stix_id: str, version: str, tree_size: int
    ) -> Inclusion:
        """The audit path of one object version, for a member that may read it (else
        NotFound, exactly as ``GET /objects/{id}/?match[version]=V`` answers)."""
        if not principal.is_member:
            raise NotAuthenticated("the transparency log is for members")
        try:
            wanted = normalise_ts(version)
        except InvalidInput as exc:
            raise InvalidInput(f"version: {exc.message}") from exc
        page = await self.read.page(
            principal,
            find_collection("bulletins"),
            {"match[version]": [version]},
            scope=f"object:{stix_id}",
            allow=OBJECT_BY_ID_FILTERS,
            fixed=ObjectFilter(ids=(stix_id,)),
            with_body=False,
        )
        if not page.objects:
            raise NotFound(f"no object {stix_id}")
        size = await self.store.log.log_size()
        if not 1 <= tree_size <= size:
            raise InvalidInput(f"tree_size must be between 1 and the log's size, {size}")
        index = await self.store.log.log_leaf_index(stix_id, wanted)
        if index is None:
            raise NotFound(f"{stix_id} version {wanted} has no leaf in the log")
        if index >= tree_size:
            raise NotFound(f"{stix_id} version {wanted} was appended after tree size {tree_size}")
        path = await self._hashes(inclusion_plan(index, tree_size))
        return Inclusion(
            leaf_index=index, tree_size=tree_size, audit_path=tuple(h.hex() for h in path)
        )

    async def inclusions(
        self, principal: Principal, tree_size: int, wanted: list[tuple[str, str]]
    ) -> list[tuple[str, str, Inclusion]]:
        """Audit paths of many object versions at once (a peer exchange importing a page):
        ``(id, version as asked, proof)`` for each one ``principal`` may read and the tree of
        ``tree_size`` holds; the others are left out, as ``inclusion`` answers 404 for them."""
        if not principal.is_member:
            raise NotAuthenticated("the transparency log is for members")
        if len(wanted) > MAX_INCLUSIONS:
            raise InvalidInput(f"ask for at most {MAX_INCLUSIONS} proofs at once")
        size = await self.store.log.log_size()
        if not 1 <= tree_size <= size:
            raise InvalidInput(f"tree_size must be between 1 and the log's size, {size}")
        ids = sorted({stix_id for stix_id, _ in wanted})
        readable: set[tuple[str, str]] = set()
        for start in range(0, len(ids), 100):
            after = 0
            while True:
                page = await self.store.objects.read_objects(
                    principal,
                    ReadQuery(
                        collection="bulletins",
                        filter=ObjectFilter(ids=tuple(ids[start : start + 100]), versions=("all",)),
                        after_seq=after,
                        limit=1000,
                    ),
                    with_body=False,
                )
                readable.update((o.stix_id, o.version) for o in page.objects)
                if not page.more or not page.objects:
                    break
                after = page.objects[-1].seq
        found: list[tuple[str, str, int]] = []
        for stix_id, version in wanted:
            try:
                normal = normalise_ts(version)
            except InvalidInput:
                continue
            if (stix_id, normal) not in readable:
                continue
            index = await self.store.log.log_leaf_index(stix_id, normal)
            if index is not None and index < tree_size:
                found.append((stix_id, version, index))
        plans = [inclusion_plan(index, tree_size) for _, _, index in found]
        hashes = await self._hashes([p for plan in plans for p in plan])
        out: list[tuple[str, str, Inclusion]] = []
        at = 0
        for (stix_id, version, index), plan in zip(found, plans, strict=True):
            path = tuple(h.hex() for h in hashes[at : at + len(plan)])
            at += len(plan)
            out.append((stix_id, version, Inclusion(index, tree_size, path)))
        return out

    async def consistency(self, first: int, second: int) -> list[str]:
        """The RFC 9162 consistency proof from ``first`` to ``second`` leaves, hex."""
        size = await self.store.log.log_size()
        if not 1 <= first <= second <= size:
            raise InvalidInput(f"need 1 <= first <= second <= the log's size, {size}")
        return [h.hex() for h in await self._hashes(consistency_plan(first, second))]

    # --- witnesses -----------------------------------------------------------------------------

    async def cosign(self, principal: Principal, body: Any) -> Cosignature:
        """Keep a member's cosignature of a head the log signed; InvalidInput unless its key
        (the member's own, valid now) signed exactly the bytes the log key signed."""
        if not principal.is_member or principal.member is None:
            raise NotAuthenticated("cosignatures come from members")
        if not isinstance(body, dict):
            raise InvalidInput('send {"tree_size", "root_hash", "key_id", "signature"}')
        tree_size, root_hash = body.get("tree_size"), body.get("root_hash")
        key_id, signature = body.get("key_id"), body.get("signature")
        if not isinstance(tree_size, int) or isinstance(tree_size, bool) or tree_size < 0:
            raise InvalidInput("tree_size must be a non-negative integer")
        for name, value in (("root_hash", root_hash), ("key_id", key_id), ("signature", signature)):
            if not isinstance(value, str) or not value:
                raise InvalidInput(f"{name} must be a non-empty string")
        assert isinstance(key_id, str) and isinstance(signature, str)
        key = await self.store.members.get_key(key_id)
        if key is None or key.member != principal.member:
            raise InvalidInput(f"key {key_id} is not one of your keys in the key directory")
        moment = now()
        if key.not_before > moment or (key.not_after is not None and key.not_after <= moment):
            raise InvalidInput(f"key {key_id} is not valid now")
        if key.revoked_since is not None and key.revoked_since <= moment:
            raise InvalidInput(f"key {key_id} is revoked")
        heads = [
            h for h in await self.store.log.log_heads_of_size(tree_size) if h.root_hash == root_hash
        ]
        if not heads:
            raise InvalidInput(f"the log signed no head of size {tree_size} with that root hash")
        verify_key = VerifyKey.from_pem(key.public_key)
        for head in heads:
            if verify_json(verify_key, head.signed_part(), signature):
                line = self._note_line(principal.member, verify_key, head, body.get("checkpoint"))
                cosig = Cosignature(
                    member=principal.member, key_id=key_id, signature=signature, note_line=line
                )
                await self.store.log.add_log_cosignature(head, cosig, format_ts(moment))
                return cosig
        raise InvalidInput("the signature does not verify over that head")

    def _note_line(self, member: str, key: VerifyKey, head: TreeHead, value: Any) -> str | None:
        """The member's tlog-cosignature line for the checkpoint of ``head``, from
        ``{"timestamp": POSIX seconds, "signature": base64 Ed25519}`` (None when not sent)."""
        if value is None:
            return None
        if not isinstance(value, dict):
            raise InvalidInput('checkpoint must be {"timestamp", "signature"}')
        stamp, text = value.get("timestamp"), value.get("signature")
        if not isinstance(stamp, int) or isinstance(stamp, bool) or not 0 <= stamp < 2**63:
            raise InvalidInput("checkpoint.timestamp must be POSIX seconds")
        if stamp > now().timestamp() + 300:
            raise InvalidInput("checkpoint.timestamp is in the future")
        try:
            raw = b64_decode(text) if isinstance(text, str) else b""
        except ExchangeError as exc:
            raise InvalidInput(f"checkpoint.signature: {exc.message}") from exc
        body = checkpoint_body(self.origin, head.tree_size, bytes.fromhex(head.root_hash))
        if len(raw) != 64 or not key.verify(raw, cosignature_message(body, stamp)):
            raise InvalidInput("checkpoint.signature does not verify over the checkpoint")
        name = self.cosigner_name(member)
        return signature_line(
            name, note_key_id(name, NOTE_COSIGNATURE_V1, key), stamp.to_bytes(8, "big") + raw
        )
