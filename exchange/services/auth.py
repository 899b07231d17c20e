"""Who is calling: API tokens (Bearer, Token, or Basic with the token as password) → a Principal."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta

from exchange.crypto import token_hash
from exchange.errors import NotAuthenticated
from exchange.models import MemberKind, MemberStatus, Principal, RuleDirection, Token, TokenScope
from exchange.policy import ANONYMOUS, reader_matches
from exchange.store.base import Store
from exchange.timeutil import format_ts, now

_SCHEMES = ("bearer", "token")  # ``Token``: taxii2-client's TokenAuth


def _printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def token_from_header(header: str | None) -> str | None:
    """The API token in an Authorization header, or None when there is none.

    ``Bearer TOKEN``, ``Token TOKEN``, or ``Basic`` with any user name (any bytes) and the
    token as password. Header bytes that are not ASCII (aiohttp hands them over as
    surrogate escapes) and broken base64 are NotAuthenticated, never an internal error.
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme in _SCHEMES and value:
        if not _printable_ascii(value) or " " in value:
            raise NotAuthenticated("the API token is malformed")
        return value
    if scheme == "basic" and value:
        return _basic_password(value)
    raise NotAuthenticated(
        "use Authorization: Bearer TOKEN, Token TOKEN, or Basic with the token as password"
    )


def _basic_password(value: str) -> str:
    """The password of Basic credentials (RFC 7617); the user name may be any bytes."""
    if not value.isascii():
        raise NotAuthenticated("malformed Basic credentials: not base64")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NotAuthenticated("malformed Basic credentials: not base64") from exc
    _, sep, password = decoded.partition(b":")
    if not sep or not password:
        raise NotAuthenticated("Basic credentials need the API token as password")
    try:
        text = password.decode("ascii")
    except UnicodeDecodeError as exc:
        raise NotAuthenticated("the API token is malformed") from exc
    if not _printable_ascii(text) or " " in text:
        raise NotAuthenticated("the API token is malformed")
    return text


LAST_USE_PRECISION = timedelta(minutes=1)


class AuthService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def principal(self, authorization: str | None) -> Principal:
        """Anonymous without credentials; else the member, or NotAuthenticated."""
        token = token_from_header(authorization)
        if token is None:
            return ANONYMOUS
        # Looked up by its SHA-256: the token itself is never compared, so how long a
        # comparison takes tells nothing about it (and no secret is compared with ==).
        record = await self.store.members.find_token(token_hash(token))
        if record is None:
            raise NotAuthenticated("the token is unknown or revoked")
        if record.revoked is not None:
            raise NotAuthenticated("the token is unknown or revoked", record.member)
        if record.expires is not None and record.expires <= now():
            raise NotAuthenticated("the token has expired", record.member)
        member = await self.store.members.get_member(record.member)
        if member.status is not MemberStatus.ACTIVE:
            raise NotAuthenticated("the member is suspended", member.id)
        await self._note_use(record)
        return await self.for_member(member.id, can_write=record.scope is TokenScope.READ_WRITE)

    async def _note_use(self, record: Token) -> None:
        """Keep the token's last use to the minute: at most one write a minute per token."""
        moment = now()
        if record.last_used is None or moment - record.last_used >= LAST_USE_PRECISION:
            await self.store.members.touch_token(
                record.token_id, format_ts(moment), format_ts(moment - LAST_USE_PRECISION)
            )

    async def for_member(self, member_id: str, can_write: bool = False) -> Principal:
        member = await self.store.members.get_member(member_id)
        groups = await self.store.sharing.groups_of(member.id)
        inbound = tuple(
            r
            for r in await self.store.sharing.list_rules(member.id)
            if r.direction is RuleDirection.INBOUND
        )
        return Principal(
            member=member.id,
            identity=member.identity,
            matches=reader_matches(member, groups),
            inbound=inbound,
            # a peer exchange only reads (it imports over TAXII; it never posts)
            can_write=can_write and member.kind is not MemberKind.EXCHANGE,
            suspended=member.status is not MemberStatus.ACTIVE,
            is_exchange=member.kind is MemberKind.EXCHANGE,
        )
