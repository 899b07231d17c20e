"""Anonymous submission (docs/privacy.md): the author's original is checked as usual, then
sealed; the exchange publishes a copy attributed to its "anonymous source" identity, signed
with that identity's key (one of the exchange's own), with nothing that names or
fingerprints the author: no author identity, key id or signature, its own id, coarse
timestamps, and a release at a random moment after the submission.

What a reader could otherwise correlate, and how it is cut:

- the id: the copy's id is derived (HMAC under a secret of the exchange) from the author and
  the original id, so new versions of an original keep one copy id, and nobody without the
  secret can link the two;
- ``created``/``modified``: floored to ``anonymous_granularity_seconds`` (an hour), and
  any other top-level timestamp equal to one of them (``valid_from``) with it;
- ``date_added``, event ids, the stream, the transparency log: the copy is inserted at
  ``release_at``, a random moment up to ``anonymous_delay_seconds`` after the submission,
  among the other copies due then, in random order (not with the author's other posts);
- references: ids of the author's own anonymous originals are mapped to their copies;
  anything naming the author (its identity or name anywhere, a marking of its own) is refused.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from exchange.crypto import (
    SIGNATURE_EXTENSION_ID,
    SigningKey,
    derived_uuid,
    sign_object,
    signature_block,
)
from exchange.errors import RefusalCode
from exchange.models import InsertOutcome, NewObject, RuleDirection, SealedRecord
from exchange.policy import TLP_MARKINGS
from exchange.stix.types import is_observable
from exchange.store.base import Store
from exchange.timeutil import format_ts, normalise_ts, now, parse_ts, stix_ts

ANONYMISED_EXTENSION_ID = "extension-definition--f5f0c88e-8781-48d4-afda-5568cc69516c"
ANONYMOUS_IDENTITY_SECRET = "anonymous_identity"
ANONYMOUS_KEY_SECRET = "anonymous_signing_key"
ANONYMOUS_ID_SECRET = "anonymous_id_key"


@dataclass(frozen=True)
class AnonymousSource:
    """The exchange's anonymous source: its identity, its key, the secret copy ids are
    derived under, and how copies are timed."""

    identity: str
    key: SigningKey
    id_secret: bytes
    delay_seconds: float
    granularity_seconds: int

    def copy_id(self, author_identity: str, original_id: str) -> str:
        kind = original_id.split("--", 1)[0]
        return f"{kind}--{derived_uuid(self.id_secret, author_identity, original_id)}"

    def coarse(self, text: str) -> datetime:
        """A timestamp floored to the granularity."""
        at = parse_ts(text)
        step = self.granularity_seconds
        floored = int(at.timestamp()) // step * step
        return datetime.fromtimestamp(floored, UTC)

    def release_at(self, submitted: datetime) -> datetime:
        delay = secrets.SystemRandom().uniform(0, self.delay_seconds) if self.delay_seconds else 0
        return submitted + timedelta(seconds=delay)


def refs_of(value: Any) -> Iterator[str]:
    """Every id in a ``*_ref`` or ``*_refs`` property, at any depth."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.endswith("_ref") and isinstance(v, str):
                yield v
            elif isinstance(k, str) and k.endswith("_refs") and isinstance(v, list):
                yield from (r for r in v if isinstance(r, str))
            else:
                yield from refs_of(v)
    elif isinstance(value, list):
        for item in value:
            yield from refs_of(item)


def _map_refs(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k.endswith("_ref") and isinstance(v, str):
                out[k] = mapping.get(v, v)
            elif k.endswith("_refs") and isinstance(v, list):
                out[k] = [mapping.get(r, r) if isinstance(r, str) else r for r in v]
            else:
                out[k] = _map_refs(v, mapping)
        return out
    if isinstance(value, list):
        return [_map_refs(v, mapping) for v in value]
    return value


def _strings(value: Any, skip: frozenset[str] = frozenset()) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in skip:
                continue
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def names_author(value: dict[str, Any], identity: str, name: str, key_id: str | None) -> str | None:
    """What in ``value`` names its author (besides ``created_by_ref`` and the signature),
    or None: its identity id, its signing key id, or its member name as a word."""
    word = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.IGNORECASE) if name else None
    for text in _strings(value, skip=frozenset({"created_by_ref", "extensions"})):
        if identity in text:
            return f"the author's identity {identity}"
        if key_id and key_id in text:
            return "the author's key id"
        if word is not None and word.search(text):
            return f"the author's name {name!r}"
    extensions = value.get("extensions")
    if isinstance(extensions, dict):
        rest = {k: v for k, v in extensions.items() if k != SIGNATURE_EXTENSION_ID}
        for text in _strings(rest):
            if identity in text or (word is not None and word.search(text)):
                return "the author (in an extension)"
    return None


def unsupported(value: dict[str, Any]) -> str | None:
    """Why an object cannot be published anonymously, or None."""
    kind = value.get("type")
    if kind == "marking-definition":
        return "marking definitions are not taken anonymously (a marking names its author)"
    if is_observable(value):
        return (
            "cyber-observables are not taken anonymously: their author is the owner of the "
            "signing key; put the value in an indicator's pattern or observed-data instead"
        )
    refs = value.get("object_marking_refs") or []
    if any(isinstance(r, str) and r not in TLP_MARKINGS for r in refs):
        return (
            "an anonymous object carries a TLP marking only: an audience or other marking "
            "is its author's and would name it (use TLP:CLEAR or TLP:GREEN)"
        )
    for granular in value.get("granular_markings") or []:
        if isinstance(granular, dict) and granular.get("marking_ref") not in TLP_MARKINGS:
            return "granular markings other than TLP would name the author"
    return None


def make_copy(
    original: dict[str, Any],
    source: AnonymousSource,
    copy_id: str,
    created: str,
    modified: str | None,
    mapping: dict[str, str],
) -> dict[str, Any]:
    """The signed anonymous copy of ``original``."""
    value = json.loads(json.dumps(original))
    extensions = value.get("extensions")
    if isinstance(extensions, dict):
        extensions.pop(SIGNATURE_EXTENSION_ID, None)
    value = _map_refs(value, mapping)
    # Another timestamp written at the same instant (an indicator's valid_from, most often)
    # would give the exact time back: it is coarsened with the one it equals.
    moments = {original.get("created"): created}
    if modified is not None and isinstance(original.get("modified"), str):
        moments.setdefault(original["modified"], modified)
    for name, item in list(value.items()):
        if name not in ("created", "modified") and isinstance(item, str) and item in moments:
            value[name] = moments[item]
    value["id"] = copy_id
    value["created_by_ref"] = source.identity
    value["created"] = created
    if modified is not None:
        value["modified"] = modified
    value.setdefault("extensions", {})[ANONYMISED_EXTENSION_ID] = {
        "extension_type": "property-extension",
        "anonymised": True,
    }
    return sign_object(value, source.key)


async def anonymous_by_default(store: Store, member_id: str | None) -> bool:
    """Whether the member's standing rules make its posts anonymous unless they say not."""
    if member_id is None:
        return False
    return any(
        r.direction is RuleDirection.SUBMISSION and r.effect.value == "anonymous"
        for r in await store.sharing.list_rules(member_id)
    )


@dataclass
class Sealing:
    """What became of one accepted original: sealed (with its record), stored already, or a
    conflict with a sealed version."""

    outcome: InsertOutcome
    record: SealedRecord | None = None
    refusal: tuple[RefusalCode, str] | None = None


class Sealer:
    """Makes the sealed records of an anonymous post's accepted originals."""

    def __init__(self, store: Store, source: AnonymousSource) -> None:
        self.store = store
        self.source = source

    async def seal(
        self,
        member_id: str,
        author_identity: str,
        originals: list[tuple[dict[str, Any], str, NewObject]],
    ) -> list[Sealing]:
        """``originals``: (value, its text, the NewObject it would have been) of one author."""
        source = self.source
        submitted = now()
        copy_ids = [source.copy_id(author_identity, v["id"]) for v, _, _ in originals]
        referenced = {r for v, _, _ in originals for r in refs_of(v)}
        candidates = {source.copy_id(author_identity, r): r for r in referenced}
        held = await self.store.privacy.sealed_of_copies([*copy_ids, *candidates])
        known = {r.copy_id for r in held} | set(copy_ids)
        mapping = {original: cid for cid, original in candidates.items() if cid in known}
        mapping.update({v["id"]: cid for (v, _, _), cid in zip(originals, copy_ids, strict=True)})
        by_copy: dict[str, list[SealedRecord]] = {}
        for r in held:
            by_copy.setdefault(r.copy_id, []).append(r)
        out: list[Sealing] = []
        for (value, text, new), copy_id in zip(originals, copy_ids, strict=True):
            versions = by_copy.setdefault(copy_id, [])
            same = next((r for r in versions if r.original_version == new.version), None)
            if same is not None:
                out.append(
                    Sealing(
                        InsertOutcome.DUPLICATE
                        if same.original_body == text
                        else InsertOutcome.CONFLICT
                    )
                )
                continue
            if versions and max(r.original_version for r in versions) > new.version:
                out.append(
                    Sealing(
                        InsertOutcome.CONFLICT,
                        refusal=(
                            RefusalCode.VERSION_CONFLICT,
                            "a newer version of this anonymous object is sealed already: "
                            "send versions oldest first",
                        ),
                    )
                )
                continue
            created = stix_ts(source.coarse(value["created"]))
            modified = None
            if isinstance(value.get("modified"), str):
                at = source.coarse(value["modified"])
                if versions:
                    # versions must stay distinct (and in order) once coarsened
                    at = max(at, parse_ts(versions[-1].copy_version) + timedelta(milliseconds=1))
                modified = stix_ts(at)
            copy = make_copy(value, source, copy_id, created, modified, mapping)
            body = json.dumps(copy, ensure_ascii=False, separators=(",", ":"))
            version_text = modified or created
            copy_object = new.model_copy(
                update={
                    "stix_id": copy_id,
                    "version": normalise_ts(version_text),
                    "version_text": version_text,
                    "created": normalise_ts(created),
                    "author_identity": source.identity,
                    "poster_member": None,
                    "ends": tuple(mapping.get(e, e) for e in new.ends),
                    "markings": tuple(copy.get("object_marking_refs", []) or []),
                    "key_id": source.key.public.key_id,
                    "body": body,
                }
            )
            record = SealedRecord(
                sealed_id=str(uuid.uuid4()),
                copy_id=copy_id,
                copy_version=copy_object.version,
                author_member=member_id,
                author_identity=author_identity,
                original_id=str(value["id"]),
                original_version=new.version,
                key_id=_key_id(value),
                original_body=text,
                copy_object=copy_object,
                submitted_at=format_ts(submitted),
                release_at=format_ts(source.release_at(submitted)),
            )
            versions.append(record)
            out.append(Sealing(InsertOutcome.INSERTED, record=record))
        return out


def _key_id(value: dict[str, Any]) -> str | None:
    block = signature_block(value)
    key_id = block.get("key_id") if block else None
    return key_id if isinstance(key_id, str) else None
