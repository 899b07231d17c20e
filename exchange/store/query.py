"""The one read query, with the sharing policy in its WHERE clause.

Both stores run the SQL built here (``?`` placeholders; the PostgreSQL store
numbers them). Keeping policy in the query keeps pages full and ``more``/``next``
exact: nothing is filtered after the fact.

See ``exchange.policy`` for the rules in words. Outbound standing rules and
group memberships are read by the query itself, so a change takes effect on the
next request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exchange.models import ObjectFilter, Principal, ReadQuery, Tlp
from exchange.policy import PUBLIC

OBJECT_COLUMNS = (
    "o.seq, o.stix_id, o.type, o.spec_version, o.version, o.date_added, o.author_identity, o.tlp"
)


@dataclass
class Sql:
    """SQL text with its positional parameters, built left to right."""

    parts: list[str] = field(default_factory=list)
    params: list[object] = field(default_factory=list)

    def add(self, text: str, *params: object) -> Sql:
        self.parts.append(text)
        self.params.extend(params)
        return self

    def in_list(self, values: frozenset[str] | tuple[str, ...]) -> Sql:
        ordered = sorted(values)
        if not ordered:
            return self.add("(NULL)")
        return self.add("(" + ", ".join("?" for _ in ordered) + ")", *ordered)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class PolicySql:
    """Emits the readable(alias) predicate for one reader."""

    def __init__(self, reader: Principal) -> None:
        self.reader = reader

    def _is_author(self, sql: Sql, a: str) -> None:
        if self.reader.identity is None:
            sql.add("0 = 1")
        else:
            sql.add(f"{a}.author_identity = ?", self.reader.identity)

    def _public(self, sql: Sql, a: str) -> None:
        """Published for everyone (``policy.explain``'s rule for marking definitions)."""
        if PUBLIC not in self.reader.matches:
            sql.add("0 = 1")
        else:
            sql.add(
                f"EXISTS (SELECT 1 FROM object_audience aud WHERE aud.seq = {a}.seq"
                " AND aud.principal = ?)",
                PUBLIC,
            )

    def _audience_met(self, sql: Sql, a: str, seq: str | None = None) -> None:
        sql.add(
            f"EXISTS (SELECT 1 FROM object_audience aud WHERE aud.seq = {seq or a + '.seq'}"
            " AND aud.principal IN "
        )
        sql.in_list(self.reader.matches).add(")")

    def _outbound_ok(self, sql: Sql, a: str) -> None:
        matches = self.reader.matches
        sql.add(
            "NOT EXISTS (SELECT 1 FROM rules r WHERE r.direction = 'outbound'"
            f" AND r.identity = {a}.author_identity AND ("
            "(r.effect = 'require' AND NOT EXISTS (SELECT 1 FROM rule_values rv"
            " WHERE rv.rule_id = r.rule_id AND rv.value IN "
        )
        sql.in_list(matches).add(
            ")) OR (r.effect = 'deny' AND EXISTS (SELECT 1 FROM rule_values rv"
            " WHERE rv.rule_id = r.rule_id AND rv.value IN "
        )
        sql.in_list(matches).add("))))")

    @staticmethod
    def live(sql: Sql, a: str) -> None:
        """Not withdrawn: neither deleted by its publisher nor signed by a key revoked for its
        version (``key revoke --since``; the store sets ``key_revoked_at`` when it revokes)."""
        sql.add(f"{a}.deleted_at IS NULL AND {a}.key_revoked_at IS NULL")

    def visible_core(self, sql: Sql, a: str, seq: str | None = None) -> None:
        """Author, or a non-marking object whose audience the reader meets and whose
        publisher's outbound rules let the reader in. Relationship ends are not looked at.
        ``seq``: the version whose audience counts (default ``{a}.seq``)."""
        sql.add("(")
        self._is_author(sql, a)
        sql.add(f" OR ({a}.type <> 'marking-definition' AND ")
        self._audience_met(sql, a, seq)
        sql.add(" AND ")
        self._outbound_ok(sql, a)
        sql.add("))")

    def _ends_ok(self, sql: Sql, a: str, depth: int, seq: str | None = None) -> None:
        e, t1, t2 = f"e{depth}", f"h{depth}", f"v{depth}"
        sql.add(
            f"NOT EXISTS (SELECT 1 FROM object_ends {e} WHERE {e}.seq = {seq or a + '.seq'}"
            f" AND EXISTS (SELECT 1 FROM objects {t1} WHERE {t1}.stix_id = {e}.ref_id AND "
        )
        self.live(sql, t1)
        sql.add(
            f") AND NOT EXISTS (SELECT 1 FROM objects {t2} WHERE {t2}.stix_id = {e}.ref_id AND "
        )
        self.head_is(sql, t2)
        sql.add(" AND ")
        self.visible_core(sql, t2)
        sql.add("))")

    def _readable_non_marking(self, sql: Sql, a: str, depth: int, seq: str | None = None) -> None:
        """Readable by its own audience, rules and ends; with ``seq``, by that version's
        (author and type are the same for every version of an object)."""
        sql.add("(")
        self.visible_core(sql, a, seq)
        sql.add(" AND (")
        self._is_author(sql, a)
        sql.add(" OR ")
        self._ends_ok(sql, a, depth, seq)
        sql.add("))")

    @staticmethod
    def head_seq(a: str) -> str:
        """The seq of the latest live version of ``{a}``'s object (``object_heads``)."""
        return f"(SELECT hh.head_seq FROM object_heads hh WHERE hh.stix_id = {a}.stix_id)"

    @staticmethod
    def head_is(sql: Sql, a: str) -> None:
        """``{a}`` is the latest live version of its object (the version that decides who
        reads every version of it; the store keeps ``object_heads``)."""
        sql.add(f"{a}.seq = {PolicySql.head_seq(a)}")

    def readable(self, sql: Sql, a: str, depth: int = 0) -> None:
        """``{a}`` may be read: it is live, and its object's latest live version is readable
        (the latest version decides who reads every version)."""
        x = f"x{depth}"
        m = f"m{depth}"
        sql.add("(")
        self.live(sql, a)
        sql.add(f" AND (({a}.type <> 'marking-definition' AND ")
        self._readable_non_marking(sql, a, depth, self.head_seq(a))
        sql.add(f") OR ({a}.type = 'marking-definition' AND (")
        self._is_author(sql, a)
        sql.add(" OR ")
        self._public(sql, a)
        sql.add(" OR (")
        self._may_use_marking(sql, a)
        sql.add(
            f" AND EXISTS (SELECT 1 FROM object_markings {m} JOIN objects {x} ON {x}.seq = {m}.seq"
            f" WHERE {m}.marking_id = {a}.stix_id AND "
        )
        self.live(sql, x)
        sql.add(
            # Always true (a marking is stored before what references it), and it keeps
            # PostgreSQL from hashing this subquery over every object instead of probing it.
            f" AND {m}.seq > {a}.seq AND "
        )
        self.head_is(sql, x)
        sql.add(" AND ")
        self._readable_non_marking(sql, x, depth + 1)
        sql.add("))))))")

    def _may_use_marking(self, sql: Sql, a: str) -> None:
        """A necessary condition, checked with index probes, for a marking definition to be
        referenced by an object the reader may read: an audience marking's referencing
        objects are read only by their authors and by readers matching its audience."""
        sql.add(
            f"(NOT EXISTS (SELECT 1 FROM audience_markings am WHERE am.marking_id = {a}.stix_id)"
            f" OR EXISTS (SELECT 1 FROM marking_audience ma WHERE ma.marking_id = {a}.stix_id"
            " AND ma.principal IN "
        )
        sql.in_list(self.reader.matches).add(")")
        if self.reader.identity is not None:
            sql.add(
                f" OR EXISTS (SELECT 1 FROM marking_users mu WHERE mu.marking_id = {a}.stix_id"
                " AND mu.author_identity = ?)",
                self.reader.identity,
            )
        sql.add(")")


def _scope(sql: Sql, reader: Principal, query: ReadQuery, a: str) -> None:
    """What the reader reads at all: nothing when suspended; TLP:CLEAR only in ``public``;
    the reader's own inbound filters."""
    if reader.suspended:
        sql.add(" AND 0 = 1")
    if query.collection == "public":
        sql.add(f" AND {a}.tlp = ?", Tlp.CLEAR.value)
    for rule in reader.inbound:
        values = tuple(rule.values)
        if rule.field == "type":
            sql.add(f" AND {a}.type IN ").in_list(values)
        elif rule.field == "tlp":
            sql.add(f" AND ({a}.tlp IS NULL OR {a}.tlp IN ").in_list(values).add(")")
        elif rule.field == "publisher":
            sql.add(f" AND {a}.author_identity IN ").in_list(values)
        elif rule.field == "sector":
            sql.add(
                f" AND EXISTS (SELECT 1 FROM members pm WHERE pm.identity = {a}.author_identity"
                " AND pm.sector IN "
            ).in_list(values).add(")")


def _filters(sql: Sql, flt: ObjectFilter) -> None:
    if flt.ids:
        sql.add(" AND o.stix_id IN ").in_list(flt.ids)
    if flt.types:
        sql.add(" AND o.type IN ").in_list(flt.types)
    if flt.spec_versions:
        sql.add(" AND o.spec_version IN ").in_list(flt.spec_versions)
    if flt.added_after is not None:
        sql.add(" AND o.date_added > ?", flt.added_after)


def _needs_readable_versions(flt: ObjectFilter) -> bool:
    wanted = set(flt.versions)
    return "all" not in wanted and bool(wanted & {"first", "last"})


def _readable_versions(sql: Sql, policy: PolicySql, reader: Principal, query: ReadQuery) -> None:
    """``WITH readable_versions``: every version the reader may read, for "first" and "last".

    A CTE rather than a nested subquery: nesting the whole policy predicate once more
    overflows SQLite's parser stack (``parser stack overflow`` before SQLite 3.46).
    ``NOT MATERIALIZED`` lets both databases inline it, so the plan stays a correlated
    index lookup per candidate row.
    """
    sql.add(
        "WITH readable_versions AS NOT MATERIALIZED ("
        "SELECT ov.stix_id, ov.version FROM objects ov WHERE "
    )
    policy.readable(sql, "ov", depth=5)
    _scope(sql, reader, query, "ov")
    sql.add(") ")


def _versions(sql: Sql, flt: ObjectFilter) -> None:
    wanted = set(flt.versions)
    if "all" in wanted:
        return
    clauses: list[Sql] = []
    for which, op in (("first", "<"), ("last", ">")):
        if which in wanted:
            c = Sql().add(
                "NOT EXISTS (SELECT 1 FROM readable_versions lv WHERE lv.stix_id = o.stix_id"
                f" AND lv.version {op} o.version)"
            )
            clauses.append(c)
    stamps = tuple(v for v in wanted if v not in ("first", "last"))
    if stamps:
        clauses.append(Sql().add("o.version IN ").in_list(stamps))
    sql.add(" AND (")
    for i, c in enumerate(clauses):
        if i:
            sql.add(" OR ")
        sql.add(c.text, *c.params)
    sql.add(")")


def build_read(reader: Principal, query: ReadQuery, with_body: bool) -> Sql:
    """SELECT one page (limit + 1 rows, so the caller can tell ``more``)."""
    policy = PolicySql(reader)
    columns = OBJECT_COLUMNS + (", o.body" if with_body else ", NULL AS body")
    sql = Sql()
    if _needs_readable_versions(query.filter):
        _readable_versions(sql, policy, reader, query)
    sql.add(f"SELECT {columns} FROM objects o WHERE o.seq > ?", query.after_seq)
    _filters(sql, query.filter)
    _scope(sql, reader, query, "o")
    sql.add(" AND ")
    policy.readable(sql, "o")
    _versions(sql, query.filter)
    sql.add(" ORDER BY o.seq LIMIT ?", query.limit + 1)
    return sql
