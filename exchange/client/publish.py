"""``exchange publish``: sign the objects of a STIX file and post them to ``bulletins``."""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from exchange.client import ApiClient, DirectoryKey, load_objects
from exchange.crypto import SigningKey, sign_object, signature_block
from exchange.errors import ExchangeError, InvalidInput
from exchange.stix.types import is_observable

BULLETINS_ALIAS = "bulletins"

# The OASIS TLP 2.0 marking definitions: made by FIRST, known to the exchange already,
# so publish neither claims (created_by_ref) nor signs nor posts them.
TLP_MARKING_IDS = frozenset(
    {
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
)

_ENVELOPE_HEAD = b'{"objects":['
_ENVELOPE_TAIL = b"]}"
POLL_TIMEOUT = 120.0


# --- pure parts -----------------------------------------------------------------------------


def find_author(keys: Iterable[DirectoryKey], key_id: str) -> str:
    """The identity of the member that owns ``key_id``; ExchangeError if no one does."""
    for key in keys:
        if key.key_id == key_id:
            return key.identity
    raise ExchangeError(
        f"key {key_id} is not in the exchange's key directory; register it first "
        "(exchange admin key add)"
    )


def check_not_relaying(caller: str, author: str, key_id: str) -> None:
    """Refuse to sign with one member's key and post with another member's token, which
    the exchange would store as a relay of the key owner's objects, unless asked to."""
    if caller != author:
        raise InvalidInput(
            f"the key {key_id} belongs to {author}, the token to {caller}: the objects "
            "would be posted as a relay of that member's objects; give --relay if that is "
            "what you mean"
        )


def prepare_objects(
    objects: Sequence[dict[str, Any]], key: SigningKey, author: str
) -> list[dict[str, Any]]:
    """The objects to post: claimed for ``author`` where unclaimed, and signed where theirs.

    Standard TLP marking definitions are left out. An object another member created is
    relayed unchanged, keeping that member's signature (the exchange decides whether the
    relay is allowed).
    """
    prepared: list[dict[str, Any]] = []
    for obj in objects:
        if obj.get("type") == "marking-definition" and obj.get("id") in TLP_MARKING_IDS:
            continue
        if is_observable(obj):
            # No created_by_ref in STIX 2.1: the signing key's owner is the author. One
            # signed with another member's key is relayed as it is.
            block = signature_block(obj)
            if block is None or block.get("key_id") == key.public.key_id:
                prepared.append(sign_object(obj, key))
            else:
                prepared.append(obj)
            continue
        if "created_by_ref" not in obj:
            obj = copy.deepcopy(obj)
            obj["created_by_ref"] = author
        if obj["created_by_ref"] == author:
            prepared.append(sign_object(obj, key))
        else:
            prepared.append(obj)
    return prepared


def encode_object(obj: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON of one object, as it goes into an envelope."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def envelope_bytes(encoded: Sequence[bytes]) -> bytes:
    """A TAXII envelope ``{"objects":[...]}`` of already encoded objects."""
    return _ENVELOPE_HEAD + b",".join(encoded) + _ENVELOPE_TAIL


def batch_limit(max_content_length: int, batch_bytes: int | None = None) -> int:
    """The most bytes one envelope may have: a margin under the server's limit."""
    if max_content_length <= 0:
        raise ExchangeError(
            f"the API root gives an unusable max_content_length {max_content_length}"
        )
    # The margin absorbs servers that count the limit exclusively or add framing of their own.
    limit = max_content_length - min(4096, max_content_length // 20)
    if batch_bytes is not None:
        limit = min(limit, batch_bytes)
    return max(limit, 1)


def plan_batches(objects: Sequence[dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    """Split ``objects``, in order, into envelopes of at most ``limit`` bytes each."""
    empty = len(_ENVELOPE_HEAD) + len(_ENVELOPE_TAIL)
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = empty
    for obj in objects:
        length = len(encode_object(obj))
        if empty + length > limit:
            raise InvalidInput(
                f"object {obj.get('id')} is {length} bytes, too large for one request "
                f"(at most {limit - empty} bytes)"
            )
        extra = length + (1 if current else 0)  # the comma between objects
        if current and size + extra > limit:
            batches.append(current)
            current, size, extra = [], empty, length
        current.append(obj)
        size += extra
    if current:
        batches.append(current)
    return batches


def merge_statuses(statuses: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One TAXII status resource for several batches: the first one's id, summed counts."""
    if not statuses:
        raise ExchangeError("nothing was posted")
    first = statuses[0]
    merged: dict[str, Any] = {
        "id": first.get("id"),
        "status": "complete" if all(s.get("status") == "complete" for s in statuses) else "pending",
    }
    if "request_timestamp" in first:
        merged["request_timestamp"] = first["request_timestamp"]
    for name in ("total", "success", "failure", "pending"):
        merged[f"{name}_count"] = sum(int(s.get(f"{name}_count", 0)) for s in statuses)
    for name in ("successes", "failures", "pendings"):
        merged[name] = [item for s in statuses for item in s.get(name) or []]
    return merged


def all_ok(status: dict[str, Any]) -> bool:
    """True when nothing failed and nothing is left pending."""
    return int(status.get("failure_count", 0)) == 0 and int(status.get("pending_count", 0)) == 0


class Progress:
    """A one-line progress bar on a terminal; silent when disabled."""

    def __init__(self, total: int, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled

    def show(self, done: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = width * done // self.total if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\rpublishing [{bar}] {done}/{self.total} objects")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# --- talking to the exchange ----------------------------------------------------------------


def _bulletins_collection(api: ApiClient) -> str:
    answer = api.get("collections/")
    collections = answer.get("collections", []) if isinstance(answer, dict) else []
    for collection in collections:
        if isinstance(collection, dict) and collection.get("alias") == BULLETINS_ALIAS:
            return str(collection["id"])
    raise ExchangeError(f"the API root {api.base} has no collection with alias '{BULLETINS_ALIAS}'")


def _max_content_length(api: ApiClient) -> int:
    answer = api.api_root()
    value = answer.get("max_content_length")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ExchangeError(f"the API root {api.base} does not give max_content_length")
    return value


def _check_status(answer: Any, url: str) -> dict[str, Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
        raise ExchangeError(f"{url} did not answer a TAXII status resource")
    return answer


def _wait(api: ApiClient, status: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Poll a pending status until it is complete or ``timeout`` seconds have gone."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while status.get("status") == "pending" and time.monotonic() < deadline:
        time.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
        delay = min(delay * 2, 2.0)
        path = f"status/{status['id']}/"
        status = _check_status(api.get(path), api.url(path))
    return status


def publish_objects(
    api: ApiClient,
    objects: Sequence[dict[str, Any]],
    key: SigningKey,
    *,
    progress: bool,
    batch_bytes: int | None = None,
    poll_timeout: float = POLL_TIMEOUT,
    relay: bool = False,
) -> dict[str, Any]:
    """Sign ``objects`` for the key's owner and post them; the merged status resource.

    The key's owner must be the token's member unless ``relay``."""
    limit = batch_limit(_max_content_length(api), batch_bytes)  # first: is it an API root?
    author = find_author(api.key_directory(), key.public.key_id)
    if not relay:
        check_not_relaying(api.caller_identity(), author, key.public.key_id)
    prepared = prepare_objects(objects, key, author)
    if not prepared:
        raise InvalidInput("nothing to publish: the file holds no objects besides TLP markings")
    batches = plan_batches(prepared, limit)
    path = f"collections/{_bulletins_collection(api)}/objects/"
    bar = Progress(len(prepared), enabled=progress and sys.stderr.isatty())
    statuses: list[dict[str, Any]] = []
    done = 0
    bar.show(done)
    try:
        for batch in batches:
            answer = api.post(path, envelope_bytes([encode_object(o) for o in batch]))
            # Wait for each batch before the next: a later batch may reference an audience
            # marking in an earlier one, which must be stored first.
            status = _wait(api, _check_status(answer, api.url(path)), poll_timeout)
            statuses.append(status)
            done += len(batch)
            bar.show(done)
    finally:
        bar.close()
    return merge_statuses(statuses)


def publish_file(
    path: str | Path,
    api_root_url: str,
    token: str,
    key_pem_path: str | Path,
    *,
    progress: bool,
    batch_bytes: int | None = None,
    relay: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Publish a STIX bundle or TAXII envelope; (status resource, whether all succeeded)."""
    objects = load_objects(path)
    if not objects:
        raise InvalidInput(f"{path}: holds no objects")
    try:
        pem = Path(key_pem_path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {key_pem_path}: {exc.strerror or exc}") from exc
    try:
        key = SigningKey.from_pem(pem)
    except ExchangeError as exc:
        raise InvalidInput(f"{key_pem_path}: {exc.message}") from exc
    with ApiClient(api_root_url, token) as api:
        status = publish_objects(
            api, objects, key, progress=progress, batch_bytes=batch_bytes, relay=relay
        )
    return status, all_ok(status)
