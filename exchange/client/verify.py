"""``exchange verify``: check every object's signature against the exchange's key directory."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from exchange.client import ApiClient, DirectoryKey, load_objects
from exchange.crypto import (
    SIGNATURE_ALG,
    VerifyKey,
    signature_block,
    verify_object_signature,
)
from exchange.errors import InvalidInput, SignatureError
from exchange.models import key_window_problem
from exchange.schemas import definitions_text
from exchange.stix.types import is_observable
from exchange.timeutil import now, parse_ts


def signing_time(obj: dict[str, Any]) -> datetime:
    """The time a signature must be valid at: ``modified``, else ``created``."""
    value = obj.get("modified", obj.get("created"))
    if value is None and is_observable(obj):
        return now()  # cyber-observables have no time of their own: the key must be valid now
    if value is None:
        raise InvalidInput("no modified or created time")
    return parse_ts(value)


@lru_cache(maxsize=1)
def _own_definitions() -> list[dict[str, Any]]:
    """The exchange's extension definitions as this distribution ships them: STIX 2.1 gives
    extension definitions no ``extensions``, so they carry no signature; one that equals a
    shipped definition is the exchange's own."""
    found: list[dict[str, Any]] = json.loads(definitions_text())
    return found


def check_object(obj: dict[str, Any], keys: Sequence[DirectoryKey]) -> str | None:
    """Why ``obj`` does not verify against the key directory ``keys``, or None when it does."""
    block = signature_block(obj)
    if block is None:
        if obj.get("type") == "extension-definition" and obj in _own_definitions():
            return None  # the exchange's own definitions: unsigned, as shipped
        return "unsigned"
    if block.get("alg") != SIGNATURE_ALG:
        return f"unsupported signature algorithm {block.get('alg')!r}"
    key_id = block.get("key_id")
    candidates = [k for k in keys if k.key_id == key_id]
    if not candidates:
        return f"unknown key {key_id}"
    creator = obj.get("created_by_ref")
    if creator is None and is_observable(obj):
        creator = candidates[0].identity  # a cyber-observable's author: the key's owner
    # Key ids are hashes of public keys, so two entries share one only if a key was
    # registered twice; the one owned by the creator is the one that counts.
    key = next((k for k in candidates if k.identity == creator), None)
    if key is None:
        return (
            f"key belongs to identity {candidates[0].identity}, "
            f"not created_by_ref {creator or '(none)'}"
        )
    try:
        refusal = key_window_problem(key, signing_time(obj))
    except InvalidInput as exc:
        return exc.message
    if refusal is not None:
        return refusal
    try:
        verify_object_signature(obj, VerifyKey.from_pem(key.public_key))
    except SignatureError as exc:
        return exc.message
    return None


def verify_objects(
    objects: Iterable[dict[str, Any]], keys: Sequence[DirectoryKey]
) -> dict[str, Any]:
    """``{"valid": [ids], "invalid": [{"id", "reason"}]}`` for ``objects``."""
    valid: list[str] = []
    invalid: list[dict[str, str]] = []
    for obj in objects:
        reason = check_object(obj, keys)
        if reason is None:
            valid.append(str(obj.get("id")))
        else:
            invalid.append({"id": str(obj.get("id")), "reason": reason})
    return {"valid": valid, "invalid": invalid}


def verify_file(path: str | Path, api_root_url: str, token: str) -> dict[str, Any]:
    """Verify every object of a STIX file against the exchange's key directory."""
    objects = load_objects(path)
    with ApiClient(api_root_url, token) as api:
        api.api_root()
        keys = api.key_directory()
    return verify_objects(objects, keys)
