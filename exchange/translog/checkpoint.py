"""C2SP formats of a signed tree head (no I/O): the ``tlog-checkpoint`` note body, signed-note
signature lines and the ``tlog-cosignature`` v1 (Ed25519) signed message."""

from __future__ import annotations

import base64
import re

_NAME = re.compile(r"^[^\s+]+$")


def valid_name(name: str) -> bool:
    """A signed-note key name: non-empty, no Unicode spaces, no plus."""
    return bool(_NAME.match(name))


def checkpoint_body(origin: str, tree_size: int, root: bytes) -> str:
    """The note text: origin, tree size, base64 root hash, each ending in a newline."""
    return f"{origin}\n{tree_size}\n{base64.b64encode(root).decode('ascii')}\n"


def signature_line(name: str, key_id: bytes, signature: bytes) -> str:
    """``— <name> base64(key ID || signature)`` and a newline."""
    return f"\u2014 {name} {base64.b64encode(key_id + signature).decode('ascii')}\n"


def cosignature_message(body: str, timestamp: int) -> bytes:
    """What a tlog-cosignature/v1 Ed25519 cosigner signs for a checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode("utf-8")


def note(body: str, lines: list[str]) -> str:
    """A signed note: the text, a blank line, the signature lines."""
    return body + "\n" + "".join(lines)
