"""All cryptography of the exchange, behind a small interface.

This is the only module that imports ``cryptography``. It knows Ed25519 keys,
RFC 8785 canonical JSON, key ids, object signatures, API token hashes and the
HMAC that protects stateless cursors.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import re
import secrets
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from exchange.errors import SignatureError

SIGNATURE_EXTENSION_ID = "extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1"
SIGNATURE_ALG = "Ed25519"
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) serialisation, UTF-8."""
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise SignatureError(f"cannot canonicalise object: {exc}") from exc
    except RecursionError as exc:  # the serialiser recurses: a value nested too deep
        raise SignatureError("cannot canonicalise object: it nests too deeply") from exc


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    # Strict: only the base64url alphabet, no padding, and the one canonical encoding of the
    # bytes (the decoder would otherwise skip stray characters and ignore spare bits, so many
    # different strings would carry the same signature).
    if not isinstance(text, str) or not _B64URL.fullmatch(text):
        raise SignatureError("signature is not base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("signature is not base64url without padding") from exc
    if b64url_encode(raw) != text:
        raise SignatureError("signature is not canonical base64url")
    return raw


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SigningKey:
    """An Ed25519 private key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise SignatureError("not an unencrypted PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SignatureError("the private key is not an Ed25519 key")
        return cls(key)

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public(self) -> VerifyKey:
        return VerifyKey(self._key.public_key())

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


class VerifyKey:
    """An Ed25519 public key."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key

    @classmethod
    def from_raw(cls, raw: bytes) -> VerifyKey:
        try:
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        except ValueError as exc:
            raise SignatureError("not a 32-byte Ed25519 public key") from exc

    @classmethod
    def from_pem(cls, pem: bytes | str) -> VerifyKey:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise SignatureError("not a PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise SignatureError("the public key is not an Ed25519 key")
        return cls(key)

    def raw(self) -> bytes:
        return self._key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def pem(self) -> str:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    @property
    def key_id(self) -> str:
        """Lowercase hex SHA-256 of the raw 32-byte public key."""
        return sha256_hex(self.raw())

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


def signed_bytes(obj: dict[str, Any]) -> bytes:
    """The bytes a signature covers: JCS of the object without the signature extension."""
    stripped = dict(obj)
    extensions = stripped.get("extensions")
    if isinstance(extensions, dict) and SIGNATURE_EXTENSION_ID in extensions:
        rest = {k: v for k, v in extensions.items() if k != SIGNATURE_EXTENSION_ID}
        if rest:
            stripped["extensions"] = rest
        else:
            del stripped["extensions"]
    return canonical_json(stripped)


def signature_block(obj: dict[str, Any]) -> dict[str, Any] | None:
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict):
        return None
    block = extensions.get(SIGNATURE_EXTENSION_ID)
    return block if isinstance(block, dict) else None


def sign_object(obj: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """A copy of ``obj`` carrying a fresh signature extension made with ``key``."""
    try:
        signed = copy.deepcopy(obj)
    except RecursionError as exc:
        raise SignatureError("cannot sign the object: it nests too deeply") from exc
    signature = key.sign(signed_bytes(signed))
    extensions = signed.setdefault("extensions", {})
    extensions[SIGNATURE_EXTENSION_ID] = {
        "extension_type": "property-extension",
        "alg": SIGNATURE_ALG,
        "key_id": key.public.key_id,
        "signature": b64url_encode(signature),
    }
    return signed


SIGNATURE_FIELDS = frozenset({"extension_type", "alg", "key_id", "signature"})


def signature_block_problem(block: dict[str, Any]) -> str | None:
    """Why a signature extension is malformed, or None: it must hold exactly
    ``extension_type``, ``alg``, ``key_id`` and ``signature``, all strings (a field the
    signature does not cover could say anything)."""
    extra = sorted(set(block) - SIGNATURE_FIELDS)
    missing = sorted(SIGNATURE_FIELDS - set(block))
    if extra or missing:
        parts = []
        if extra:
            parts.append("extra " + ", ".join(repr(f) for f in extra))
        if missing:
            parts.append("missing " + ", ".join(missing))
        return (
            "the signature extension must hold exactly extension_type, alg, key_id and "
            f"signature ({'; '.join(parts)})"
        )
    if not all(isinstance(block[f], str) for f in SIGNATURE_FIELDS):
        return "the signature extension's fields must be strings"
    if block["extension_type"] != "property-extension":
        return "the signature extension's extension_type must be 'property-extension'"
    return None


def verify_object_signature(obj: dict[str, Any], key: VerifyKey) -> None:
    """Raise SignatureError unless ``obj`` carries a valid signature by ``key``."""
    block = signature_block(obj)
    if block is None:
        raise SignatureError("unsigned: no signature extension")
    problem = signature_block_problem(block)
    if problem is not None:
        raise SignatureError(problem)
    if block.get("alg") != SIGNATURE_ALG:
        raise SignatureError(f"unsupported signature algorithm {block.get('alg')!r}")
    if block.get("key_id") != key.key_id:
        raise SignatureError("key_id does not match the verifying key")
    raw = b64url_decode(block.get("signature", ""))
    if len(raw) != 64:
        raise SignatureError("signature is not 64 bytes")
    if not key.verify(raw, signed_bytes(obj)):
        raise SignatureError("bad signature: the object does not match what was signed")


def verify_object_signatures(
    items: list[tuple[dict[str, Any], VerifyKey]],
) -> list[str | None]:
    """Check many signatures in one call (the publish pipeline's CPU stage hands over a
    chunk of an envelope at once): one problem text per object, None where the signature
    holds. ``cryptography`` has no batch Ed25519 verification; what a batch saves is a call
    into the pool per object."""
    out: list[str | None] = []
    for obj, key in items:
        try:
            verify_object_signature(obj, key)
        except SignatureError as exc:
            out.append(exc.message)
        else:
            out.append(None)
    return out


# --- API tokens and cursor MACs -------------------------------------------------------------


def new_token() -> str:
    """A random API token of 256 bits, printable."""
    return "exk_" + secrets.token_urlsafe(32)


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 suffices: there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mac(secret: bytes, data: bytes) -> bytes:
    return hmac.new(secret, data, hashlib.sha256).digest()[:16]


def mac_ok(secret: bytes, data: bytes, tag: bytes) -> bool:
    return hmac.compare_digest(mac(secret, data), tag)


# --- Merkle hashing (RFC 9162) -----------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def object_leaf_hash(body: str) -> bytes:
    """The log leaf of a stored object: SHA-256(0x00 || JCS(object as stored))."""
    return leaf_hash(canonical_json(json.loads(body)))


# --- sealed cursors -------------------------------------------------------------------------

_SEAL_NONCE = 12


def _seal_key(secret: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(
        hmac.new(secret, b"exchange cursor sealing v1", hashlib.sha256).digest()
    )


def seal(secret: bytes, data: bytes, context: bytes) -> bytes:
    """Encrypt and authenticate ``data`` for ``context``: the result reveals nothing of it
    but equality (the nonce is derived from the key, context and data, as in SIV, so the
    same position always gives the same cursor and a nonce never serves two messages)."""
    nonce = hmac.new(secret, b"nonce\0" + context + b"\0" + data, hashlib.sha256).digest()
    nonce = nonce[:_SEAL_NONCE]
    return nonce + _seal_key(secret).encrypt(nonce, data, context)


def unseal(secret: bytes, token: bytes, context: bytes) -> bytes | None:
    """The data sealed for ``context``, or None for anything this secret did not seal."""
    if len(token) < _SEAL_NONCE + 16:
        return None
    try:
        return _seal_key(secret).decrypt(token[:_SEAL_NONCE], token[_SEAL_NONCE:], context)
    except InvalidTag:
        return None


# --- signed JSON (the log's tree heads and their cosignatures) -------------------------------


def sign_json(key: SigningKey, value: Any) -> str:
    """Ed25519 over the JCS of ``value``, base64url without padding."""
    return b64url_encode(key.sign(canonical_json(value)))


def verify_json(key: VerifyKey, value: Any, signature: str) -> bool:
    """Whether ``signature`` (base64url, no padding) is ``key``'s over the JCS of ``value``."""
    try:
        raw = b64url_decode(signature)
    except SignatureError:
        return False
    return len(raw) == 64 and key.verify(raw, canonical_json(value))


# --- C2SP signed notes (tlog-checkpoint, tlog-cosignature) -----------------------------------

NOTE_ED25519 = 0x01
NOTE_COSIGNATURE_V1 = 0x04


def note_key_id(name: str, signature_type: int, key: VerifyKey) -> bytes:
    """C2SP signed-note key ID: SHA-256(name || 0x0A || type || raw public key)[:4]."""
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([signature_type]) + key.raw()
    ).digest()[:4]


def b64_encode(raw: bytes) -> str:
    """Standard base64 (RFC 4648 section 4), with padding, as signed notes use."""
    return base64.b64encode(raw).decode("ascii")


def b64_decode(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise SignatureError("not standard base64") from exc
    if b64_encode(raw) != text:
        raise SignatureError("not canonical base64")
    return raw


def derived_uuid(secret: bytes, *parts: str) -> str:
    """A UUID (version 4 layout) derived from ``parts`` under ``secret``: the same parts give
    the same UUID, and without the secret nobody can tell which parts made it."""
    digest = bytearray(hmac.new(secret, "\x00".join(parts).encode("utf-8"), "sha256").digest())
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = bytes(digest[:16]).hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# --- TLS -----------------------------------------------------------------------------------------


def self_signed_certificate(host: str = "127.0.0.1", days: int = 30) -> tuple[bytes, bytes]:
    """A self-signed ECDSA P-256 certificate for ``host`` (an IP address or a DNS name) and its
    private key, both PEM: for trying ``exchange serve --tls-cert`` out and for tests, never
    for a real deployment (its certificate comes from a CA)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem
