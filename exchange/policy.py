"""Who may read what: TLP 2.0, audience markings, standing rules.

The rules are expressed as *audience principals*, plain strings that both sides
of a read share:

- an object carries the principals that may read it (``public`` for TLP:CLEAR,
  ``members`` for TLP:GREEN, or the entries of its audience marking, which
  narrow any TLP);
- a reader carries the principals it matches (``public``, ``members``,
  ``member:identity--…``, ``group:NAME``, ``sector:S``, ``economy:CC``,
  ``kind:K``).

A reader may read an object when the two sets meet, the publisher's outbound
rules let it, and (for relationships and sightings) it may read every end the
exchange holds. The publisher always reads its own objects. The store applies
exactly this in its queries (``exchange.store.query``); ``explain`` below
applies it in Python for one object and one reader, for administrators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from exchange.errors import Refusal, RefusalCode
from exchange.models import Member, MemberStatus, Principal, RuleEffect, StandingRule, Tlp

TLP_MARKINGS: dict[str, Tlp] = {
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": Tlp.CLEAR,
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": Tlp.GREEN,
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": Tlp.AMBER,
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": Tlp.AMBER_STRICT,
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": Tlp.RED,
}
TLP_MARKING_IDS: dict[Tlp, str] = {tlp: mid for mid, tlp in TLP_MARKINGS.items()}
AUDIENCE_EXTENSION_ID = "extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c"

PUBLIC = "public"
MEMBERS = "members"
AUDIENCE_REQUIRED = frozenset({Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED})
RELAYABLE = frozenset({Tlp.CLEAR, Tlp.GREEN})
ENDS_TYPES = frozenset({"relationship", "sighting"})

_ENTRY = re.compile(
    r"^(member:identity--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|group:[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
    r"|sector:[a-z0-9][a-z0-9-]{0,63}"
    r"|economy:[A-Z]{2}"
    r"|kind:(government|private))$"
)


def parse_audience_entries(entries: object, tlp_hint: Tlp | None = None) -> tuple[str, ...]:
    """Check the ``audience`` list of an audience marking; return it as principals."""
    if not isinstance(entries, list) or not entries:
        raise Refusal(RefusalCode.AUDIENCE_INVALID, "audience must be a non-empty list of entries")
    out: list[str] = []
    for entry in entries:
        if not isinstance(entry, str) or not _ENTRY.match(entry):
            raise Refusal(
                RefusalCode.AUDIENCE_INVALID,
                f"audience entry {entry!r} is not member:identity--…, group:NAME, sector:S, "
                "economy:CC or kind:government|private"
            )
        out.append(entry)
    return tuple(dict.fromkeys(out))


def object_audience(tlp: Tlp, audience: Sequence[str] | None) -> tuple[str, ...]:
    """The principals that may read an object (its publisher aside)."""
    if tlp in AUDIENCE_REQUIRED and not audience:
        raise Refusal(
            RefusalCode.AUDIENCE_REQUIRED, f"TLP:{tlp.value.upper()} needs an audience marking"
        )
    if tlp is Tlp.RED and audience and any(not e.startswith("member:") for e in audience):
        raise Refusal(
            RefusalCode.RED_AUDIENCE, "a TLP:RED audience may name members only (member:identity--…)"
        )
    if audience:
        return tuple(audience)
    return (PUBLIC,) if tlp is Tlp.CLEAR else (MEMBERS,)


def reader_matches(member: Member, groups: Iterable[str]) -> frozenset[str]:
    if member.status is not MemberStatus.ACTIVE:
        return frozenset()
    matched = {
        PUBLIC,
        MEMBERS,
        f"member:{member.identity}",
        f"sector:{member.sector}",
        f"economy:{member.economy}",
        f"kind:{member.kind.value}",
    }
    matched.update(f"group:{g}" for g in groups)
    return frozenset(matched)


ANONYMOUS = Principal(member=None, identity=None, matches=frozenset({PUBLIC}))


def outbound_allows(rule: StandingRule, matches: frozenset[str]) -> bool:
    matched = any(v in matches for v in rule.values)
    return matched if rule.effect is RuleEffect.REQUIRE else not matched


@dataclass(frozen=True)
class ObjectFacts:
    """What ``explain`` needs to know of one stored object version."""

    stix_id: str
    type: str
    tlp: Tlp | None
    author_identity: str | None
    author_sector: str | None
    audience: tuple[str, ...]
    deleted: bool
    version: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str
    reason: str


def explain(
    reader: Principal,
    obj: ObjectFacts,
    outbound: Sequence[StandingRule],
    unreadable_ends: Sequence[str] = (),
    referencing_readable: bool = False,
) -> Decision:
    """Why ``reader`` may or may not read ``obj`` (the reader's own inbound filters included)."""
    if obj.deleted:
        return Decision(False, "deleted", "the object was withdrawn by its publisher")
    if reader.suspended:
        return Decision(False, "suspended", "a suspended member reads nothing")
    for rule in reader.inbound:
        if not inbound_keeps(rule, obj):
            return Decision(False, f"inbound:{rule.rule_id}", f"the reader's own filter on {rule.field}")
    if reader.identity is not None and obj.author_identity == reader.identity:
        return Decision(True, "publisher", "the publisher always reads its own objects")
    if obj.type == "marking-definition":
        if referencing_readable:
            return Decision(True, "marking", "an object the reader may read references it")
        if PUBLIC in obj.audience:
            return Decision(True, "tlp", "published for everyone")
        return Decision(False, "marking", "no object the reader may read references it")
    met = [p for p in obj.audience if p in reader.matches]
    if not met:
        tlp = obj.tlp.value.upper() if obj.tlp else "none"
        return Decision(
            False,
            "audience",
            f"TLP:{tlp} with audience {list(obj.audience)}: the reader matches no entry",
        )
    for rule in outbound:
        if not outbound_allows(rule, reader.matches):
            return Decision(
                False,
                f"outbound:{rule.rule_id}",
                f"the publisher's standing rule {rule.effect.value} {list(rule.values)}",
            )
    if unreadable_ends:
        return Decision(
            False, "ends", f"the reader may not read the end(s) {list(unreadable_ends)}"
        )
    return Decision(True, "audience", f"the reader matches {met[0]}")


def inbound_keeps(rule: StandingRule, obj: ObjectFacts) -> bool:
    if rule.field == "type":
        return obj.type in rule.values
    if rule.field == "tlp":
        return obj.tlp is None or obj.tlp.value in rule.values
    if rule.field == "publisher":
        return obj.author_identity in rule.values
    if rule.field == "sector":
        return obj.author_sector in rule.values
    return True
