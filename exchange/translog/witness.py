"""The C2SP tlog-witness protocol's formats, the log's side (no I/O): witness verifier keys,
the ``add-checkpoint`` request body and the cosignature lines of the answer."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from exchange.crypto import NOTE_COSIGNATURE_V1, VerifyKey, note_key_id
from exchange.errors import InvalidInput, SignatureError
from exchange.translog.checkpoint import cosignature_message, valid_name


@dataclass(frozen=True)
class WitnessKey:
    """A witness's Ed25519 cosignature key, from its vkey ``name+hex(key ID)+base64(0x04||key)``."""

    name: str
    key_id: bytes
    key: VerifyKey

    @classmethod
    def parse(cls, vkey: str) -> WitnessKey:
        parts = vkey.split("+", 2)  # the base64 key may hold "+" itself
        if len(parts) != 3 or not valid_name(parts[0]):
            raise InvalidInput(f"not a witness vkey (name+keyid+key): {vkey!r}")
        name, hex_id, material = parts
        try:
            raw = base64.b64decode(material, validate=True)
            key_id = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(f"witness vkey {name}: bad encoding") from exc
        if len(raw) != 33 or raw[0] != NOTE_COSIGNATURE_V1:
            raise InvalidInput(f"witness vkey {name}: not an Ed25519 cosignature (0x04) key")
        try:
            key = VerifyKey.from_raw(raw[1:])
        except SignatureError as exc:
            raise InvalidInput(f"witness vkey {name}: {exc.message}") from exc
        if note_key_id(name, NOTE_COSIGNATURE_V1, key) != key_id:
            raise InvalidInput(f"witness vkey {name}: the key ID does not match the key")
        return cls(name=name, key_id=key_id, key=key)

    def accept(self, line: str, body: str) -> bool:
        """Whether ``line`` is this witness's valid tlog-cosignature/v1 over ``body``."""
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != self.name:
            return False
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            return False
        if len(blob) != 4 + 8 + 64 or blob[:4] != self.key_id:
            return False
        stamp = int.from_bytes(blob[4:12], "big")
        return stamp > 0 and self.key.verify(blob[12:], cosignature_message(body, stamp))


def add_checkpoint_request(old_size: int, proof: list[bytes], checkpoint: str) -> bytes:
    """``old N``, the consistency proof (base64, one per line), a blank line, the checkpoint."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    return ("\n".join(lines) + "\n\n" + checkpoint).encode("utf-8")
