"""STIX 2.1 validation of one object, and the CPU-bound stage of the publish pipeline.

These functions are plain and picklable: the publish service runs them in a
process pool (or a thread) so that validation and signature checks never block
the event loop.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from stix2validator import ValidationOptions, validate_instance

from exchange.crypto import VerifyKey, verify_object_signature
from exchange.errors import SignatureError

_ID = re.compile(r"^([a-z0-9][a-z0-9-]*)--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@lru_cache(maxsize=1)
def _options() -> ValidationOptions:
    return ValidationOptions(version="2.1", strict=False)


def structure_error(value: Any) -> str | None:
    """Cheap checks every object must pass before anything else looks at it."""
    if not isinstance(value, dict):
        return "not a JSON object"
    stix_type, stix_id = value.get("type"), value.get("id")
    if not isinstance(stix_type, str) or not isinstance(stix_id, str):
        return "an object needs string 'type' and 'id' properties"
    match = _ID.match(stix_id)
    if match is None:
        return f"id {stix_id!r} is not a STIX identifier"
    if match.group(1) != stix_type:
        return f"id {stix_id!r} does not match type {stix_type!r}"
    if value.get("spec_version") != "2.1":
        return "spec_version must be '2.1'"
    return None


def stix_error(value: dict[str, Any]) -> str | None:
    """stix2-validator's verdict: None when valid, else its first errors."""
    try:
        result = validate_instance(value, _options())
    except Exception as exc:  # the validator raises for inputs it cannot even walk
        return f"invalid STIX: {exc}"
    if result.is_valid:
        return None
    messages = [str(e) for e in result.errors][:3]
    return "invalid STIX: " + "; ".join(messages)


def cpu_stage(batch: list[tuple[dict[str, Any], str | None]]) -> list[str | None]:
    """Validate each object and, when a public key is given, verify its signature.

    Returns one reason per object, None for those that pass.
    """
    out: list[str | None] = []
    for value, public_pem in batch:
        reason = stix_error(value)
        if reason is None and public_pem is not None:
            try:
                verify_object_signature(value, VerifyKey.from_pem(public_pem))
            except SignatureError as exc:
                reason = exc.message
        out.append(reason)
    return out
