"""What the log hands between layers: keys, signed tree heads, cosignatures (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogKey:
    """One of the log's Ed25519 keys; ``not_after`` is set once it is retired."""

    key_id: str
    public_key: str  # PEM
    private_key: bytes = b""  # PEM (PKCS8); empty where only the public half is wanted
    created: str = ""
    not_after: str | None = None

    def __repr__(self) -> str:  # never print the private half
        return f"LogKey(key_id={self.key_id!r}, not_after={self.not_after!r})"


@dataclass(frozen=True)
class Cosignature:
    member: str
    key_id: str
    signature: str
    # The member's C2SP tlog-cosignature line for the checkpoint of the same head, if sent.
    note_line: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"member": self.member, "key_id": self.key_id, "signature": self.signature}


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head: the log key's Ed25519 signature over :meth:`signed_part`'s JCS."""

    tree_size: int
    root_hash: str  # hex
    timestamp: str
    key_id: str
    signature: str = ""  # base64url, no padding
    cosignatures: tuple[Cosignature, ...] = ()

    def signed_part(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp,
            "key_id": self.key_id,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.signed_part(),
            "signature": self.signature,
            "cosignatures": [c.to_json() for c in self.cosignatures],
        }
