"""Stateless ``next`` cursors: position and filters, MAC-protected with a key every worker shares."""

from __future__ import annotations

import base64
import binascii
import json

from exchange.crypto import mac, mac_ok
from exchange.errors import InvalidInput
from exchange.models import ObjectFilter


class Cursors:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, scope: str, flt: ObjectFilter, after_seq: int) -> str:
        payload = json.dumps(
            {"s": scope, "p": after_seq, "f": flt.model_dump(mode="json")},
            separators=(",", ":"),
            sort_keys=True,
        ).encode("utf-8")
        token = mac(self._secret, payload) + payload
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")

    def decode(self, scope: str, cursor: str) -> tuple[ObjectFilter, int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("the next cursor is malformed") from exc
        tag, payload = raw[:16], raw[16:]
        if len(tag) != 16 or not mac_ok(self._secret, payload, tag):
            raise InvalidInput("the next cursor is not one this exchange issued")
        data = json.loads(payload)
        if data.get("s") != scope:
            raise InvalidInput("the next cursor belongs to another endpoint or collection")
        return ObjectFilter.model_validate(data["f"]), int(data["p"])
