"""STIX 2.1 validation of one object, and the CPU-bound stage of the publish pipeline.

These functions are plain and picklable: the publish service runs them in a
process pool (or a thread) so that validation and signature checks never block
the event loop.

Two validators give the same verdicts (tests/unit/test_stix_differential.py):
``"fast"`` (the default; exchange.stix.fast: the same JSON schemas compiled with
jsonschema-rs, the MUST checks re-expressed, the exchange's own pattern parser) and
``"stix2-validator"`` (the library itself, kept for comparison: the ``validator``
setting, ``exchange serve --validator``). The fast one hands the few kinds of object it
does not judge itself to the library (exchange.stix.fast.Fallback).

Speed of the library (figures in docs/performance.md):

- stix2-validator builds a fresh JSON Schema validator, with a fresh ``referencing``
  registry, for every object it checks, so each ``$ref`` between its schema files
  (``../common/core.json`` and so on) is retrieved and the registry re-crawled on
  every call: about 40% of its time per indicator. ``_cached_load_validator``
  replaces its ``load_validator`` with one that builds each schema's validator once
  per process, over one registry holding every bundled schema file, crawled once.
  The schemas, the format checker, the validator class and the MUST checks stay the
  library's own, so exactly the same things are checked and the same errors come out.
- Importing stix2-validator imports jsonschema's format checkers, and with them
  ``rfc3987_syntax``, which builds a lark grammar at import time (1.5-3 s of CPU).
  It is imported on first use, not with this module, so commands that never
  validate (every ``exchange admin`` command, the server's event-loop process when
  validation runs in the process pool) do not pay for it.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import orjson

from exchange.crypto import VerifyKey, verify_object_signatures
from exchange.errors import RefusalCode

_ID = re.compile(
    r"^([a-z0-9][a-z0-9-]*)--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)

# --- stix2-validator, imported once on first use, with one validator per schema --------------

_LOCK = threading.RLock()
_LOADED: list[tuple[ModuleType, Any]] = []  # [(stix2validator.validator, options)]
_REGISTRIES: dict[str, Any] = {}
_VALIDATORS: dict[tuple[str, str], Any] = {}


def _schema_registry(sv: ModuleType, schema_dir: str) -> Any:
    """Every schema file under ``schema_dir`` (as the library's own retriever loads and
    patches it), keyed by its ``file://`` URI, which is what relative ``$ref`` values
    resolve to; crawled once. Anything else still goes to the library's retriever."""
    from referencing import Registry

    found = _REGISTRIES.get(schema_dir)
    if found is not None:
        return found
    resources = []
    for root, _dirs, files in os.walk(schema_dir, followlinks=True):
        if "examples" in root:  # as stix2validator.find_schema skips them
            continue
        for name in sorted(files):
            if name.endswith(".json"):
                uri = Path(os.path.abspath(os.path.join(root, name))).as_uri()
                resources.append((uri, sv.retrieve_from_filesystem(uri, schema_dir)))
    registry = (
        Registry(retrieve=partial(sv.retrieve_from_filesystem, schema_dir=schema_dir))  # type: ignore[call-arg]
        .with_resources(resources)
        .crawl()
    )
    _REGISTRIES[schema_dir] = registry
    return registry


def _cached_load_validator(sv: ModuleType, original: Callable[..., Any]) -> Callable[..., Any]:
    from referencing.jsonschema import DRAFT202012

    def load_validator(schema_path: str, schema: Any, schema_dir: str) -> Any:
        key = (schema_path, schema_dir)
        validator = _VALIDATORS.get(key)
        if validator is not None:
            return validator
        with _LOCK:
            validator = _VALIDATORS.get(key)
            if validator is None:
                # The library's own construction, once: it patches and caches the schema
                # (later calls would reuse that patched schema whatever ``schema`` is).
                plain = original(schema_path, schema, schema_dir)
                registry = (
                    _schema_registry(sv, schema_dir)
                    .with_resource(schema_path, DRAFT202012.create_resource(plain.schema))
                    .crawl()
                )
                validator = sv.STIXValidator(
                    plain.schema, registry=registry, format_checker=plain.format_checker
                )
                _VALIDATORS[key] = validator
        return validator

    load_validator.__wrapped__ = original  # type: ignore[attr-defined]
    return load_validator


def _validator() -> tuple[ModuleType, Any]:
    """(stix2validator.validator, the exchange's ValidationOptions), imported on first use."""
    if _LOADED:
        return _LOADED[0]
    with _LOCK:
        if not _LOADED:
            import stix2validator.validator as sv
            from stix2validator import ValidationOptions

            if not hasattr(sv.load_validator, "__wrapped__"):
                sv.load_validator = _cached_load_validator(sv, sv.load_validator)
            _LOADED.append((sv, ValidationOptions(version="2.1", strict=False)))
    return _LOADED[0]


# --- the checks -----------------------------------------------------------------------------


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


ValidatorName = Literal["fast", "stix2-validator"]
VALIDATORS: tuple[ValidatorName, ...] = ("fast", "stix2-validator")


def stix_error(value: dict[str, Any], validator: ValidatorName = "fast") -> str | None:
    """None when the object is valid STIX 2.1 (stix2-validator's verdict, default options),
    else its first errors. ``value`` has passed ``structure_error``."""
    if validator == "fast":
        from exchange.stix.fast import Fallback, fast_validator

        try:
            problems = fast_validator().problems(value)
        except Fallback:
            return library_stix_error(value)
        return "invalid STIX: " + "; ".join(problems[:3]) if problems else None
    return library_stix_error(value)


def library_stix_error(value: dict[str, Any]) -> str | None:
    """stix2-validator's verdict: None when valid, else its first errors."""
    sv, options = _validator()
    try:
        result = sv.validate_instance(value, options)
    except Exception as exc:  # the validator raises for inputs it cannot even walk
        return f"invalid STIX: {exc}"
    if result.is_valid:
        return None
    messages = [str(e) for e in result.errors][:3]
    return "invalid STIX: " + "; ".join(messages)


_WARM_UP_OBJECT: dict[str, Any] = {
    "type": "indicator",
    "spec_version": "2.1",
    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "created": "2024-01-01T00:00:00.000Z",
    "modified": "2024-01-01T00:00:00.000Z",
    "pattern": "[ipv4-addr:value = '198.51.100.1']",
    "pattern_type": "stix",
    "valid_from": "2024-01-01T00:00:00.000Z",
}


def warm_up(validator: ValidatorName = "fast") -> bool:
    """Build the validator now, so the first request a (new) pool process serves does not
    pay for it (stix2-validator: 1.5-3 s of CPU; the fast one: about 0.1 s).
    Call it once in each process, e.g. ``loop.run_in_executor(pool, warm_up)``."""
    return stix_error(dict(_WARM_UP_OBJECT), validator) is None


@lru_cache(maxsize=256)
def _verify_key(public_pem: str) -> VerifyKey:
    return VerifyKey.from_pem(public_pem)


def parse_object(body: bytes) -> dict[str, Any]:
    """An object's JSON text (as posted; it passed the envelope's strict parse in the event
    loop's process) back into a value: orjson, or the standard parser for what orjson does
    not take (integers beyond 64 bits)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = json.loads(body)
    assert isinstance(value, dict)
    return value


def cpu_stage(
    batch: list[tuple[bytes, str | None]],
    validator: ValidatorName = "fast",
) -> list[tuple[RefusalCode, str] | None]:
    """Validate each object (its JSON text as UTF-8: bytes cross to the pool process far
    cheaper than a parsed object is pickled) and, when a public key is given, verify its
    signature; the signatures of a chunk are checked in one call.

    Returns one (code, reason) per object, None for those that pass.
    """
    out: list[tuple[RefusalCode, str] | None] = []
    to_verify: list[tuple[int, dict[str, Any], VerifyKey]] = []
    for body, public_pem in batch:
        value = parse_object(body)
        reason = stix_error(value, validator)
        if reason is not None:
            out.append((RefusalCode.INVALID_STIX, reason))
            continue
        if public_pem is not None:
            to_verify.append((len(out), value, _verify_key(public_pem)))
        out.append(None)
    problems = verify_object_signatures([(value, key) for _, value, key in to_verify])
    for (index, _value, _key), problem in zip(to_verify, problems, strict=True):
        if problem is not None:
            out[index] = (RefusalCode.SIGNATURE_INVALID, problem)
    return out
