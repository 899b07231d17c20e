"""The key registry: member keys, the exchange's own key, and the key directory."""

from __future__ import annotations

from datetime import datetime, timedelta

from exchange.crypto import SigningKey, VerifyKey
from exchange.errors import InvalidInput, SignatureError
from exchange.models import Key
from exchange.store.base import Store
from exchange.timeutil import DURATION_RANGE, MAX_DURATION, MIN_DURATION, format_ts, now, now_ms

DEFAULT_KEY_LIFETIME = timedelta(days=730)
EXCHANGE_KEY_SECRET = "exchange_signing_key"


def key_json(key: Key) -> dict[str, object]:
    return {
        "key_id": key.key_id,
        "member": key.member,
        "identity": key.identity,
        "public_key": key.public_key,
        "not_before": format_ts(key.not_before),
        "not_after": format_ts(key.not_after) if key.not_after else None,
        "revoked_since": format_ts(key.revoked_since) if key.revoked_since else None,
    }


class KeyService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _register(self, member_id: str, public: VerifyKey, lifetime: timedelta | None) -> Key:
        member = await self.store.members.get_member(member_id)
        if lifetime is not None and not MIN_DURATION <= lifetime <= MAX_DURATION:
            raise InvalidInput(f"a key's validity must be {DURATION_RANGE}")
        created = now_ms()
        key = Key(
            key_id=public.key_id,
            member=member.id,
            identity=member.identity,
            public_key=public.pem(),
            not_before=created,
            not_after=created + (DEFAULT_KEY_LIFETIME if lifetime is None else lifetime),
            created=created,
        )
        await self.store.members.add_key(key)
        return key

    async def generate(
        self, member_id: str, lifetime: timedelta | None = None
    ) -> tuple[Key, bytes]:
        """A new key pair for a member: the public half registered, the private PEM returned."""
        await self.store.members.get_member(member_id)  # fail before making a key for nobody
        private = SigningKey.generate()
        key = await self._register(member_id, private.public, lifetime)
        return key, private.private_pem()

    async def add(
        self, member_id: str, public_pem: bytes, lifetime: timedelta | None = None
    ) -> Key:
        try:
            public = VerifyKey.from_pem(public_pem)
        except SignatureError as exc:
            raise InvalidInput(f"cannot use that public key: {exc.message}") from exc
        return await self._register(member_id, public, lifetime)

    async def revoke(self, key_id: str, since: datetime | None = None) -> Key:
        return await self.store.members.revoke_key(key_id, format_ts(since or now()))

    async def list_keys(
        self, member_id: str | None = None, expiring_days: int | None = None
    ) -> list[Key]:
        if member_id is not None:
            await self.store.members.get_member(member_id)
        keys = await self.store.members.list_keys(member_id)
        if expiring_days is not None:
            horizon = now() + timedelta(days=expiring_days)
            keys = [
                k
                for k in keys
                if k.revoked_since is None and k.not_after is not None and k.not_after <= horizon
            ]
        return keys

    async def exchange_key(
        self,
        identity: str,
        secret: str = EXCHANGE_KEY_SECRET,
        valid_from: datetime | None = None,
    ) -> SigningKey:
        """One of the exchange's own signing keys (``secret`` names it: its own, or its
        anonymous source's), made once and shared by every worker; valid from the moment it
        is made unless ``valid_from`` says otherwise."""
        pem = await self.store.get_or_create_secret(secret, SigningKey.generate().private_pem())
        key = SigningKey.from_pem(pem)
        if await self.store.members.get_key(key.public.key_id) is None:
            created = now_ms()
            try:
                await self.store.members.add_key(
                    Key(
                        key_id=key.public.key_id,
                        member=None,
                        identity=identity,
                        public_key=key.public.pem(),
                        not_before=valid_from or created,
                        not_after=None,
                        created=created,
                    )
                )
            except Exception:  # another worker registered it first
                if await self.store.members.get_key(key.public.key_id) is None:
                    raise
        return key
