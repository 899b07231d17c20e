"""A small Python API for members' own tools: sign objects, publish them.

    from exchange.client import sign, publish

    status = publish([indicator, report], "https://exchange.example/api/v1/", token, "me.pem")

Objects may be stix2 objects or plain dicts (or JSON text). Each is turned into a plain
JSON value once, before it is signed; nothing re-serialises it through stix2 afterwards,
so the signed bytes are the bytes posted (stix2's ``TAXIICollectionSink`` re-parses what it
is given and adds properties such as ``pattern_version``, which breaks signatures: see
docs/signing.md).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from exchange.client import ApiClient, objects_from_document
from exchange.client.publish import all_ok, publish_objects
from exchange.crypto import SigningKey, sign_object
from exchange.errors import ExchangeError, InvalidInput
from exchange.stix.types import is_observable
from exchange.strictjson import DECODER

KeyLike = SigningKey | bytes | str | Path


class PublishRefused(ExchangeError):
    """The exchange refused some of the objects (or left them pending). ``status`` is the
    TAXII status resource: ``failures`` says which and why; the rest were stored."""

    title = "Objects refused"

    def __init__(self, status: dict[str, Any]) -> None:
        failures = status.get("failures", [])
        shown = "; ".join(f"{f.get('id')}: {f.get('message')}" for f in failures[:3])
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        pending = status.get("pending_count", 0)
        super().__init__(
            f"{status.get('failure_count', 0)} of {status.get('total_count', 0)} objects "
            f"refused"
            + (f", {pending} pending" if pending else "")
            + (f": {shown}{more}" if shown else "")
        )
        self.status = status


def as_dict(obj: Any) -> dict[str, Any]:
    """A STIX object as a plain JSON value: a stix2 object (serialised once, here), a mapping
    (deep-copied), or JSON text."""
    value: Any
    if callable(getattr(obj, "serialize", None)):  # a stix2 object (a Mapping too)
        value = json.loads(obj.serialize())
    elif isinstance(obj, Mapping):
        value = copy.deepcopy(dict(obj))
    elif isinstance(obj, str | bytes):
        try:
            value = DECODER.decode(obj.decode("utf-8") if isinstance(obj, bytes) else obj)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"not a JSON STIX object: {exc}") from exc
    else:
        raise InvalidInput(f"not a STIX object: {type(obj).__name__}")
    if not isinstance(value, dict):
        raise InvalidInput("a STIX object is a JSON object")
    return value


def load_key(key: KeyLike) -> SigningKey:
    """A signing key: a SigningKey, PKCS#8 PEM bytes or text, or the path of a PEM file."""
    if isinstance(key, SigningKey):
        return key
    if isinstance(key, bytes):
        return SigningKey.from_pem(key)
    if isinstance(key, str) and key.lstrip().startswith("-----BEGIN"):
        return SigningKey.from_pem(key.encode("ascii"))
    try:
        pem = Path(key).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {key}: {exc.strerror or exc}") from exc
    return SigningKey.from_pem(pem)


def sign(obj: Any, key: KeyLike, *, author: str | None = None) -> dict[str, Any]:
    """``obj`` signed with ``key``: a new dict carrying the signature extension.

    ``author`` (your identity, ``identity--…``) becomes ``created_by_ref`` where the object
    has none; cyber-observables never get one (the key's owner is their author). Post the
    result as it is: any change, re-serialising it through stix2 included, breaks the
    signature."""
    value = as_dict(obj)
    if author is not None and "created_by_ref" not in value and not is_observable(value):
        value["created_by_ref"] = author
    return sign_object(copy.deepcopy(value), load_key(key))


def publish(
    objects: Any,
    url: str,
    token: str,
    key: KeyLike,
    *,
    timeout: float = 60.0,
    relay: bool = False,
) -> dict[str, Any]:
    """Sign ``objects`` for the owner of ``key`` and post them to the ``bulletins``
    collection of the API root ``url``; the TAXII status resource.

    ``objects``: a list of stix2 objects or dicts, a stix2 Bundle, an envelope or one
    object. Objects without ``created_by_ref`` are claimed for the key's owner (found in
    the key directory), objects of another author are relayed unchanged. The key must
    belong to the token's member (InvalidInput otherwise) unless ``relay``. Raises
    PublishRefused (with ``.status``) when the exchange refuses any object, and
    ExchangeError subclasses for HTTP and connection errors (``NotAuthenticated`` for a
    bad token)."""
    if isinstance(objects, list | tuple) or (
        isinstance(objects, Iterable)
        and not isinstance(objects, str | bytes | Mapping)
        and not callable(getattr(objects, "serialize", None))
    ):
        values = [as_dict(o) for o in objects]
    else:
        values = objects_from_document(as_dict(objects))
    if not values:
        raise InvalidInput("nothing to publish")
    signing_key = load_key(key)
    with ApiClient(url, token, timeout=timeout) as api:
        status = publish_objects(api, values, signing_key, progress=False, relay=relay)
    if not all_ok(status):
        raise PublishRefused(status)
    return status
