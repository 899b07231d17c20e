"""exchange.crypto against the signing vectors made outside the project (tests/assets/signing.json)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from exchange import crypto
from exchange.errors import SignatureError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "vectors"
VECTORS: dict[str, Any] = json.loads((ASSETS / "signing.json").read_text(encoding="utf-8"))
KEYS: list[dict[str, Any]] = VECTORS["keys"]
VALID: list[dict[str, Any]] = VECTORS["valid"]
INVALID: list[dict[str, Any]] = VECTORS["invalid"]
KEYS_BY_ID = {k["key_id"]: k for k in KEYS}

# The vectors give each refusal a "why" in prose; map it to what our reason must mention.
EXPECTED_REASON = {
    "a property changed after signing": "bad signature",
    "signature made by the other key, key_id of this one": "bad signature",
    "key_id of a key that is not the signer's": "bad signature",
    "signature not base64url": "base64url",
    "signature over non-canonical JSON (sorted keys with spaces)": "bad signature",
    "no signature extension": "unsigned",
    "unsupported alg": "unsupported signature algorithm",
}


def _verify_key(key_id: str) -> crypto.VerifyKey:
    return crypto.VerifyKey.from_pem(KEYS_BY_ID[key_id]["public_pem"])


def _signing_key(key_id: str) -> crypto.SigningKey:
    return crypto.SigningKey.from_seed(bytes.fromhex(KEYS_BY_ID[key_id]["seed_hex"]))


@pytest.mark.parametrize("name", ["signing.json", "merkle.json"])
def test_assets_are_copies_of_the_shared_vectors(name: str) -> None:
    shared = SHARED / name
    if not shared.exists():
        pytest.skip("shared vectors not present next to the project")
    assert (ASSETS / name).read_bytes() == shared.read_bytes()


def test_vectors_name_the_signature_extension() -> None:
    assert VECTORS["extension"] == crypto.SIGNATURE_EXTENSION_ID
    assert VALID and INVALID and KEYS


@pytest.mark.parametrize("key", KEYS, ids=[k["key_id"][:12] for k in KEYS])
def test_key_from_seed(key: dict[str, Any]) -> None:
    signing = crypto.SigningKey.from_seed(bytes.fromhex(key["seed_hex"]))
    public = signing.public
    assert public.raw().hex() == key["public_hex"]
    assert public.key_id == key["key_id"]
    assert public.key_id == hashlib.sha256(bytes.fromhex(key["public_hex"])).hexdigest()
    assert public.pem() == key["public_pem"]


@pytest.mark.parametrize("key", KEYS, ids=[k["key_id"][:12] for k in KEYS])
def test_public_pem_loads(key: dict[str, Any]) -> None:
    public = crypto.VerifyKey.from_pem(key["public_pem"])
    assert public.key_id == key["key_id"]
    assert crypto.VerifyKey.from_pem(key["public_pem"].encode("ascii")).key_id == key["key_id"]


@pytest.mark.parametrize("key", KEYS, ids=[k["key_id"][:12] for k in KEYS])
def test_private_pem_round_trip(key: dict[str, Any]) -> None:
    signing = crypto.SigningKey.from_seed(bytes.fromhex(key["seed_hex"]))
    again = crypto.SigningKey.from_pem(signing.private_pem())
    assert again.public.key_id == key["key_id"]


@pytest.mark.parametrize("vector", VALID, ids=[v["object"]["id"] for v in VALID])
def test_signed_bytes_are_the_jcs_of_the_vector(vector: dict[str, Any]) -> None:
    data = crypto.signed_bytes(vector["object"])
    assert data == vector["jcs_utf8"].encode("utf-8")
    assert hashlib.sha256(data).hexdigest() == vector["jcs_sha256"]
    assert crypto.sha256_hex(data) == vector["jcs_sha256"]


@pytest.mark.parametrize("vector", VALID, ids=[v["object"]["id"] for v in VALID])
def test_signed_bytes_leave_the_object_untouched(vector: dict[str, Any]) -> None:
    obj = copy.deepcopy(vector["object"])
    crypto.signed_bytes(obj)
    assert obj == vector["object"]


@pytest.mark.parametrize("vector", VALID, ids=[v["object"]["id"] for v in VALID])
def test_valid_vector_verifies(vector: dict[str, Any]) -> None:
    obj = vector["object"]
    block = crypto.signature_block(obj)
    assert block is not None
    assert block["key_id"] == vector["signed_by"]
    crypto.verify_object_signature(obj, _verify_key(vector["signed_by"]))


@pytest.mark.parametrize("vector", VALID, ids=[v["object"]["id"] for v in VALID])
def test_valid_vector_fails_with_the_other_key(vector: dict[str, Any]) -> None:
    other = next(k for k in KEYS if k["key_id"] != vector["signed_by"])
    with pytest.raises(SignatureError, match="key_id does not match"):
        crypto.verify_object_signature(vector["object"], _verify_key(other["key_id"]))


@pytest.mark.parametrize("vector", VALID, ids=[v["object"]["id"] for v in VALID])
def test_sign_object_reproduces_the_vector(vector: dict[str, Any]) -> None:
    # Ed25519 is deterministic, so re-signing the same bytes gives the very same signature.
    signed = crypto.sign_object(vector["object"], _signing_key(vector["signed_by"]))
    assert signed == vector["object"]
    assert crypto.canonical_json(signed) == crypto.canonical_json(vector["object"])


@pytest.mark.parametrize("vector", VALID, ids=[v["object"]["id"] for v in VALID])
def test_sign_object_round_trip_from_unsigned(vector: dict[str, Any]) -> None:
    unsigned = copy.deepcopy(vector["object"])
    extensions = unsigned["extensions"]
    del extensions[crypto.SIGNATURE_EXTENSION_ID]
    if not extensions:
        del unsigned["extensions"]
    before = copy.deepcopy(unsigned)
    key = _signing_key(vector["signed_by"])
    signed = crypto.sign_object(unsigned, key)
    assert unsigned == before, "sign_object must not modify its argument"
    assert crypto.signed_bytes(signed) == vector["jcs_utf8"].encode("utf-8")
    crypto.verify_object_signature(signed, key.public)
    block = crypto.signature_block(signed)
    assert block == vector["object"]["extensions"][crypto.SIGNATURE_EXTENSION_ID]


def test_sign_object_round_trip_fresh_key() -> None:
    key = crypto.SigningKey.generate()
    obj = {"type": "note", "spec_version": "2.1", "id": "note--1", "content": "x"}
    signed = crypto.sign_object(obj, key)
    crypto.verify_object_signature(signed, key.public)
    assert crypto.signed_bytes(signed) == crypto.canonical_json(obj)
    block = crypto.signature_block(signed)
    assert block is not None
    assert len(crypto.b64url_decode(block["signature"])) == 64
    assert "=" not in block["signature"]
    tampered = copy.deepcopy(signed)
    tampered["content"] = "y"
    with pytest.raises(SignatureError, match="bad signature"):
        crypto.verify_object_signature(tampered, key.public)


def test_every_invalid_vector_has_an_expected_reason() -> None:
    assert {v["why"] for v in INVALID} <= set(EXPECTED_REASON)


@pytest.mark.parametrize("vector", INVALID, ids=[v["why"] for v in INVALID])
def test_invalid_vector_is_refused(vector: dict[str, Any]) -> None:
    obj = vector["object"]
    block = crypto.signature_block(obj)
    # A verifier looks the key up by the key_id the object names; unsigned objects name none,
    # so try them against every key.
    key_ids = [block["key_id"]] if block and block.get("key_id") in KEYS_BY_ID else list(KEYS_BY_ID)
    expected = EXPECTED_REASON.get(vector["why"], "")
    for key_id in key_ids:
        with pytest.raises(SignatureError) as info:
            crypto.verify_object_signature(obj, _verify_key(key_id))
        assert expected in info.value.message, (vector["why"], info.value.message)
