"""Stateless, opaque cursors: ``next`` (position and filters) and the stream's event ids.

Both are sealed (encrypted and authenticated) with a key every worker shares, so they
survive a restart and work on any worker, and reveal nothing to the reader: not the
store's position, and so not how many objects it may not read lie in between.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct

from exchange.crypto import seal, unseal
from exchange.errors import InvalidInput
from exchange.models import ObjectFilter


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    if not text.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


class Cursors:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, scope: str, flt: ObjectFilter, after_seq: int) -> str:
        payload = json.dumps(
            {"p": after_seq, "f": flt.model_dump(mode="json")},
            separators=(",", ":"),
            sort_keys=True,
        ).encode("utf-8")
        return _b64(seal(self._secret, payload, b"next\0" + scope.encode("utf-8")))

    def decode(self, scope: str, cursor: str) -> tuple[ObjectFilter, int]:
        raw = _unb64(cursor)
        if raw is None:
            raise InvalidInput("the next cursor is malformed")
        payload = unseal(self._secret, raw, b"next\0" + scope.encode("utf-8"))
        if payload is None:
            raise InvalidInput(
                "the next cursor is not one this exchange issued for this endpoint, "
                "collection and reader"
            )
        data = json.loads(payload)
        return ObjectFilter.model_validate(data["f"]), int(data["p"])

    def encode_event(self, scope: str, seq: int) -> str:
        """An event id (``id:``, ``Last-Event-ID``) for a stream position."""
        return _b64(seal(self._secret, struct.pack(">Q", seq), b"event\0" + scope.encode("utf-8")))

    def decode_event(self, scope: str, event_id: str) -> int:
        raw = _unb64(event_id.strip())
        payload = (
            unseal(self._secret, raw, b"event\0" + scope.encode("utf-8"))
            if raw is not None
            else None
        )
        if payload is None or len(payload) != 8:
            raise InvalidInput(f"the event id {event_id!r} is not a cursor of this exchange")
        return int(struct.unpack(">Q", payload)[0])
