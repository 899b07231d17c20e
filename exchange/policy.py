"""Who may read what: the sharing policy, stated once.

The policy is data: the *facts* an object version and a reader can have (``Fact``,
each with its meaning in ``FACTS``), and three *decision tables* (``SEES``,
``SEES_WITH_ENDS``, ``READS``) whose first matching row decides. ``docs/sharing.md``
prints the same tables (``render_markdown``; a test keeps the page and the data equal).

Everything that decides a read is derived from these tables:

- the store's SQL predicate: ``exchange.store.query`` compiles a table into one
  boolean expression (a deny row ``c`` becomes ``NOT c AND rest``, an allow row
  ``c OR rest``), with each fact's SQL beside its meaning;
- the Python evaluation used by ``explain``, relays and the log: ``decide`` walks the
  same rows, with the facts of one object version and one reader (``evidence``).

Audience principals are plain strings both sides share: an object carries the
principals that may read it (``public`` for TLP:CLEAR, ``members`` for TLP:GREEN, or
the entries of its audience marking, which narrow any TLP); a reader carries the
principals it matches (``public``, ``members``, ``member:identity--…``,
``group:NAME``, ``sector:S``, ``economy:CC``, ``kind:K``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from exchange.errors import Refusal, RefusalCode
from exchange.models import (
    Member,
    MemberKind,
    MemberStatus,
    Principal,
    RuleEffect,
    ShareLevel,
    StandingRule,
    Tlp,
)

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
# Never read by a peer exchange, so never imported anywhere else: they stay on the exchange
# where they were published.
STAYS_HOME = frozenset({Tlp.AMBER_STRICT, Tlp.RED})
# The audience entries a peer exchange can match; ``group:`` entries name groups of one
# exchange and match only there.
GROUP_PREFIX = "group:"
# An imported object's ``group:NAME`` entries are stored as ``home-group:NAME``, which no
# reader matches: a local group of the same name is not the group its author meant.
HOME_GROUP_PREFIX = "home-group:"
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
                "economy:CC or kind:government|private",
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
            RefusalCode.RED_AUDIENCE,
            "a TLP:RED audience may name members only (member:identity--…)",
        )
    if audience:
        return tuple(audience)
    return (PUBLIC,) if tlp is Tlp.CLEAR else (MEMBERS,)


def reader_matches(member: Member, groups: Iterable[str]) -> frozenset[str]:
    """The principals a member matches. A peer exchange (kind ``exchange``) matches
    ``members`` (TLP:GREEN) only when registered ``--share green``, and no ``group:`` entry:
    groups are local to the exchange where they are."""
    if member.status is not MemberStatus.ACTIVE:
        return frozenset()
    matched = {
        PUBLIC,
        f"member:{member.identity}",
        f"sector:{member.sector}",
        f"economy:{member.economy}",
        f"kind:{member.kind.value}",
    }
    if member.kind is MemberKind.EXCHANGE:
        if member.share is ShareLevel.GREEN:
            matched.add(MEMBERS)
        return frozenset(matched)
    matched.add(MEMBERS)
    matched.update(f"{GROUP_PREFIX}{g}" for g in groups)
    return frozenset(matched)


def imported_entries(entries: Sequence[str]) -> tuple[str, ...]:
    """An imported object's audience entries as this exchange stores them: ``sector:``,
    ``economy:``, ``kind:`` and ``member:`` apply on every exchange, ``group:`` only at
    home (stored as ``home-group:``, which nothing here matches)."""
    return tuple(
        HOME_GROUP_PREFIX + e[len(GROUP_PREFIX) :] if e.startswith(GROUP_PREFIX) else e
        for e in entries
    )


ANONYMOUS = Principal(member=None, identity=None, matches=frozenset({PUBLIC}))


# --- the facts -------------------------------------------------------------------------------


class Fact(StrEnum):
    """What the decision tables look at. Each is a fact of the *version* being read, of
    the object's *latest* live version (which decides who reads every version), or of the
    *reader*; ``FACTS`` says which, and what the fact means."""

    WITHDRAWN = "withdrawn"
    READER_SUSPENDED = "reader-suspended"
    READER_IS_EXCHANGE = "reader-is-exchange"
    STAYS_HOME = "stays-home"
    INBOUND_DROPS = "inbound-drops"
    READER_IS_PUBLISHER = "reader-is-publisher"
    IS_MARKING = "is-marking"
    PUBLISHED_FOR_EVERYONE = "published-for-everyone"
    REFERENCED_BY_READABLE = "referenced-by-readable"
    AUDIENCE_MET = "audience-met"
    OUTBOUND_REFUSES = "outbound-refuses"
    END_UNSEEN = "end-unseen"


@dataclass(frozen=True)
class FactSpec:
    of: str  # "version", "latest" or "reader"
    meaning: str


FACTS: Mapping[Fact, FactSpec] = {
    Fact.WITHDRAWN: FactSpec(
        "version",
        "deleted by its publisher, or signed with a key revoked for its time "
        "(`key revoke --since`)",
    ),
    Fact.READER_SUSPENDED: FactSpec("reader", "the reader is a suspended member"),
    Fact.READER_IS_EXCHANGE: FactSpec(
        "reader", "the reader is a peer exchange (a member of kind `exchange`)"
    ),
    Fact.STAYS_HOME: FactSpec("version", "its TLP is AMBER+STRICT or RED"),
    Fact.INBOUND_DROPS: FactSpec(
        "version", "one of the reader's own inbound filters does not keep it"
    ),
    Fact.READER_IS_PUBLISHER: FactSpec(
        "latest", "the reader is the member whose identity is its `created_by_ref`"
    ),
    Fact.IS_MARKING: FactSpec("latest", "it is a marking definition"),
    Fact.PUBLISHED_FOR_EVERYONE: FactSpec(
        "latest",
        "its readers include `public` (TLP:CLEAR without an audience marking), "
        "and so does the reader",
    ),
    Fact.REFERENCED_BY_READABLE: FactSpec(
        "latest",
        "the latest live version of an object that references it in "
        "`object_marking_refs` passes `sees-with-ends` for the reader",
    ),
    Fact.AUDIENCE_MET: FactSpec(
        "latest",
        "the reader matches one of its readers: an entry of its audience "
        "marking, else the TLP's default (`public` for CLEAR, `members` for GREEN)",
    ),
    Fact.OUTBOUND_REFUSES: FactSpec(
        "latest", "one of its publisher's outbound standing rules refuses the reader"
    ),
    Fact.END_UNSEEN: FactSpec(
        "latest",
        "a relationship or sighting with an end the exchange holds (live) whose "
        "latest live version fails `sees` for the reader",
    ),
}

# Facts that look at other objects: the store's query finds them in SQL, and a caller of
# ``decide`` finds them by deciding ``SEES``/``SEES_WITH_ENDS`` for those objects.
COMPOUND_FACTS = frozenset({Fact.REFERENCED_BY_READABLE, Fact.END_UNSEEN})


# --- the decision tables ---------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """If every ``(fact, holds)`` of ``when`` is so, the row decides ``allow``."""

    rule: str
    when: tuple[tuple[Fact, bool], ...]
    allow: bool
    reason: str


@dataclass(frozen=True)
class Table:
    """A decision list: the first row whose condition holds decides."""

    name: str
    purpose: str
    rows: tuple[Row, ...]

    @property
    def facts(self) -> frozenset[Fact]:
        return frozenset(f for row in self.rows for f, _ in row.when)


def _row(rule: str, allow: bool, reason: str, *when: tuple[Fact, bool]) -> Row:
    return Row(rule=rule, when=when, allow=allow, reason=reason)


_F = Fact
# (In `sees` and `sees-with-ends` after the publisher row, which never holds for a peer
# exchange: there it joins the next deny row's conjunction, and the SQL nests no deeper.)
_HOME = _row(
    "home",
    False,
    "TLP:AMBER+STRICT and TLP:RED never leave their home exchange",
    (_F.READER_IS_EXCHANGE, True),
    (_F.STAYS_HOME, True),
)
_PUBLISHER = _row(
    "publisher", True, "the publisher always reads its own objects", (_F.READER_IS_PUBLISHER, True)
)
_NOT_AUDIENCE = _row(
    "audience", False, "the reader matches none of its readers {detail}", (_F.AUDIENCE_MET, False)
)
_OUTBOUND = _row(
    "outbound", False, "the publisher's standing rule {detail}", (_F.OUTBOUND_REFUSES, True)
)
_ENDS = _row("ends", False, "the reader may not read the end {detail}", (_F.END_UNSEEN, True))
_ADMITTED = _row("audience", True, "the reader matches {detail}")

SEES = Table(
    "sees",
    "whether the audience of an object admits a reader: for the ends of a relationship "
    "or sighting (one level: an end's own ends and the reader's inbound filters do not count)",
    (
        _PUBLISHER,
        _HOME,
        _row("marking", False, "a marking definition is not an end", (_F.IS_MARKING, True)),
        _NOT_AUDIENCE,
        _OUTBOUND,
        _ADMITTED,
    ),
)

SEES_WITH_ENDS = Table(
    "sees-with-ends",
    "`sees`, and every held end too: for the objects that make a marking definition "
    "readable, and for relays (a member may relay only what this admits it to)",
    (
        _PUBLISHER,
        _HOME,
        _row("marking", False, "a marking definition is judged by `reads`", (_F.IS_MARKING, True)),
        _NOT_AUDIENCE,
        _OUTBOUND,
        _ENDS,
        _ADMITTED,
    ),
)

READS = Table(
    "reads",
    "whether a reader is served an object version, on every read path",
    (
        _row("withdrawn", False, "the version was withdrawn: {detail}", (_F.WITHDRAWN, True)),
        _row("suspended", False, "a suspended member reads nothing", (_F.READER_SUSPENDED, True)),
        _HOME,
        _row("inbound", False, "the reader's own filter on {detail}", (_F.INBOUND_DROPS, True)),
        _PUBLISHER,
        _row(
            "tlp",
            True,
            "a marking definition published for everyone",
            (_F.IS_MARKING, True),
            (_F.PUBLISHED_FOR_EVERYONE, True),
        ),
        _row(
            "marking",
            True,
            "an object the reader may read references it ({detail})",
            (_F.IS_MARKING, True),
            (_F.REFERENCED_BY_READABLE, True),
        ),
        _row(
            "marking", False, "no object the reader may read references it", (_F.IS_MARKING, True)
        ),
        _NOT_AUDIENCE,
        _OUTBOUND,
        _ENDS,
        _ADMITTED,
    ),
)

TABLES = (READS, SEES_WITH_ENDS, SEES)


# --- deciding in Python ----------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """Whether a fact holds; ``ref`` names what made it so (a rule id, an end's id) and
    ``detail`` says it in words, for ``explain``."""

    holds: bool
    ref: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str
    reason: str


@dataclass(frozen=True)
class ObjectFacts:
    """What the store knows of one stored object version, for ``decide``."""

    stix_id: str
    type: str
    tlp: Tlp | None
    author_identity: str | None
    author_sector: str | None
    audience: tuple[str, ...]
    deleted: bool
    version: str = ""
    key_revoked: bool = False
    ends: tuple[str, ...] = field(default=())

    @property
    def withdrawn(self) -> bool:
        return self.deleted or self.key_revoked


def decide(table: Table, evidence: Callable[[Fact], Evidence]) -> Decision:
    """The first row of ``table`` whose condition holds; facts are asked for only as the
    rows need them (so a compound fact is looked up only when it can matter)."""
    for row in table.rows:
        refs: list[str] = []
        details: list[str] = []
        for fact, holds in row.when:
            ev = evidence(fact)
            if ev.holds is not holds:
                break
            refs.extend(r for r in (ev.ref,) if r)
            details.extend(d for d in (ev.detail,) if d)
        else:
            rule = ":".join([row.rule, *refs]) if row.rule in ("inbound", "outbound") else row.rule
            return Decision(row.allow, rule, row.reason.format(detail="; ".join(details)).strip())
    raise AssertionError(f"decision table {table.name} has no catch-all row")


def outbound_allows(rule: StandingRule, matches: frozenset[str]) -> bool:
    matched = any(v in matches for v in rule.values)
    return matched if rule.effect is RuleEffect.REQUIRE else not matched


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


def evidence(
    reader: Principal,
    version: ObjectFacts,
    *,
    latest: ObjectFacts | None = None,
    outbound: Sequence[StandingRule] = (),
    compound: Mapping[Fact, Evidence] | None = None,
) -> Callable[[Fact], Evidence]:
    """The facts (``FACTS``) of ``version`` for ``reader``, in Python. ``latest``: the
    object's latest live version (default ``version``); ``outbound``: its publisher's
    outbound rules; ``compound``: the facts that look at other objects, when they can
    matter (else ``FactNeeded``)."""
    head = latest or version
    found = dict(compound or {})

    def fact(f: Fact) -> Evidence:
        if f is Fact.WITHDRAWN:
            why = "deleted by its publisher" if version.deleted else "its signing key was revoked"
            return Evidence(version.withdrawn, detail=why if version.withdrawn else "")
        if f is Fact.READER_SUSPENDED:
            return Evidence(reader.suspended)
        if f is Fact.READER_IS_EXCHANGE:
            return Evidence(reader.is_exchange)
        if f is Fact.STAYS_HOME:
            return Evidence(version.tlp in STAYS_HOME)
        if f is Fact.INBOUND_DROPS:
            for rule in reader.inbound:
                if not inbound_keeps(rule, version):
                    return Evidence(True, rule.rule_id, str(rule.field))
            return Evidence(False)
        if f is Fact.READER_IS_PUBLISHER:
            return Evidence(reader.identity is not None and head.author_identity == reader.identity)
        if f is Fact.IS_MARKING:
            return Evidence(head.type == "marking-definition")
        if f is Fact.PUBLISHED_FOR_EVERYONE:
            return Evidence(PUBLIC in head.audience and PUBLIC in reader.matches)
        if f is Fact.AUDIENCE_MET:
            met = [p for p in head.audience if p in reader.matches]
            return Evidence(bool(met), detail=met[0] if met else str(list(head.audience)))
        if f is Fact.OUTBOUND_REFUSES:
            for rule in outbound:
                if not outbound_allows(rule, reader.matches):
                    return Evidence(True, rule.rule_id, f"{rule.effect.value} {list(rule.values)}")
            return Evidence(False)
        if f is Fact.END_UNSEEN and not (head.type in ENDS_TYPES and head.ends):
            return Evidence(False)
        if f in found:
            return found[f]
        raise FactNeeded(f)

    return fact


class FactNeeded(LookupError):
    """``evidence`` was asked for a compound fact it was not given."""

    def __init__(self, fact: Fact) -> None:
        super().__init__(f"the fact {fact.value} looks at other objects")
        self.fact = fact


async def decide_looking_up(
    table: Table,
    reader: Principal,
    version: ObjectFacts,
    *,
    latest: ObjectFacts | None,
    outbound: Sequence[StandingRule],
    look_up: Callable[[Fact], Awaitable[Evidence]],
    found: dict[Fact, Evidence] | None = None,
) -> Decision:
    """``decide``, looking up each compound fact (``look_up``) only when a row needs it.
    ``found``: compound facts already looked up for the same reader and latest version
    (they depend on nothing else), kept there for the next call."""
    found = {} if found is None else found
    while True:
        try:
            return decide(
                table, evidence(reader, version, latest=latest, outbound=outbound, compound=found)
            )
        except FactNeeded as needed:
            found[needed.fact] = await look_up(needed.fact)


def render_markdown() -> str:
    """The facts and the decision tables as ``docs/sharing.md`` prints them."""
    lines = ["| fact | of | holds when |", "|---|---|---|"]
    for f, spec in FACTS.items():
        lines.append(f"| `{f.value}` | {spec.of} | {spec.meaning} |")
    for table in TABLES:
        lines += [
            "",
            f"**`{table.name}`**: {table.purpose}.",
            "",
            "| # | when | decides | `rule` |",
            "|---|---|---|---|",
        ]
        for i, row in enumerate(table.rows, 1):
            when = (
                " and ".join(
                    f"`{f.value}`" if holds else f"not `{f.value}`" for f, holds in row.when
                )
                or "otherwise"
            )
            verdict = "allow" if row.allow else "deny"
            lines.append(f"| {i} | {when} | {verdict} | `{row.rule}` |")
    return "\n".join(lines) + "\n"
