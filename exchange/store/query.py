"""The one read query, with the sharing policy in its WHERE clause.

Both stores run the SQL built here (``?`` placeholders; the PostgreSQL store
numbers them). Keeping policy in the query keeps pages full and ``more``/``next``
exact: nothing is filtered after the fact.

The policy is not written here: ``compile_table`` turns ``exchange.policy``'s decision
tables into one boolean expression, and ``FactSql`` says what each of the policy's facts
is in terms of the schema (beside ``exchange.policy.FACTS``, which says it in words and
in Python). Outbound standing rules and group memberships are read by the query itself,
so a change takes effect on the next request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from exchange.models import ObjectFilter, Principal, ReadQuery, Tlp
from exchange.policy import ENDS_TYPES, PUBLIC, READS, SEES, SEES_WITH_ENDS, Fact, Table

OBJECT_COLUMNS = (
    "o.seq, o.stix_id, o.type, o.spec_version, o.version, o.date_added, o.author_identity, o.tlp,"
    " o.version_text"
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

    def extend(self, other: Sql) -> Sql:
        self.parts.extend(other.parts)
        self.params.extend(other.params)
        return self

    def in_list(self, values: frozenset[str] | tuple[str, ...]) -> Sql:
        ordered = sorted(values)
        if not ordered:
            return self.add("(NULL)")
        return self.add("(" + ", ".join("?" for _ in ordered) + ")", *ordered)

    @property
    def text(self) -> str:
        return "".join(self.parts)


# --- boolean expressions over SQL fragments --------------------------------------------------


@dataclass(frozen=True, eq=False)
class Expr:
    """A condition: a constant, an SQL fragment (with its negation, when it has a better
    one than ``NOT (…)``), or NOT/AND/OR of conditions."""

    op: str  # "const", "raw", "not", "and", "or"
    value: bool = False
    sql: Sql | None = None
    negated: Sql | None = None
    parts: tuple[Expr, ...] = ()


TRUE = Expr("const", value=True)
FALSE = Expr("const", value=False)


def const(value: bool) -> Expr:
    return TRUE if value else FALSE


def raw(sql: Sql, negated: Sql | None = None) -> Expr:
    return Expr("raw", sql=sql, negated=negated)


def neg(x: Expr) -> Expr:
    if x.op == "const":
        return const(not x.value)
    if x.op == "not":
        return x.parts[0]
    if x.op == "raw" and x.negated is not None:
        return raw(x.negated, x.sql)
    return Expr("not", parts=(x,))


def _join(op: str, unit: bool, xs: tuple[Expr, ...]) -> Expr:
    """AND (unit True) or OR (unit False), flattened, constants folded."""
    parts: list[Expr] = []
    for x in xs:
        if x.op == "const":
            if x.value is not unit:
                return const(not unit)
            continue
        parts.extend(x.parts if x.op == op else (x,))
    if not parts:
        return const(unit)
    return parts[0] if len(parts) == 1 else Expr(op, parts=tuple(parts))


def conj(*xs: Expr) -> Expr:
    return _join("and", True, xs)


def disj(*xs: Expr) -> Expr:
    return _join("or", False, xs)


def render(x: Expr, sql: Sql) -> Sql:
    if x.op == "const":
        return sql.add("1 = 1" if x.value else "0 = 1")
    if x.op == "raw":
        assert x.sql is not None
        return sql.extend(x.sql)
    if x.op == "not":
        sql.add("NOT (")
        return render(x.parts[0], sql).add(")")
    sql.add("(")
    for i, part in enumerate(x.parts):
        if i:
            sql.add(" AND " if x.op == "and" else " OR ")
        render(part, sql)
    return sql.add(")")


def compile_table(table: Table, fact: Callable[[Fact], Expr]) -> Expr:
    """A decision list as one condition, true where the table allows: built from the
    last row up, an allow row ``c`` is ``c OR rest`` and a deny row ``NOT c AND rest``."""
    result = FALSE
    for row in reversed(table.rows):
        cond = conj(*(fact(f) if holds else neg(fact(f)) for f, holds in row.when))
        result = disj(cond, result) if row.allow else conj(neg(cond), result)
    return result


# --- the policy's facts in SQL ---------------------------------------------------------------


def head_seq(a: str) -> str:
    """The seq of the latest live version of ``{a}``'s object: ``{a}``'s own when it is
    that version (its ``is_head`` flag; most rows are), else probed in ``object_heads``."""
    return (
        f"(CASE WHEN {a}.is_head = 1 THEN {a}.seq ELSE"
        f" (SELECT hh.head_seq FROM object_heads hh WHERE hh.stix_id = {a}.stix_id) END)"
    )


def head_is(a: str) -> str:
    """``{a}`` is the latest live version of its object (the store keeps the flag with
    ``object_heads``)."""
    return f"{a}.is_head = 1"


class FactSql:
    """``exchange.policy.FACTS`` for one reader, as conditions on the row ``alias``.

    ``latest``: the SQL for the seq of the version whose facts decide (the object's latest
    live version); author and type are the same for every version of an object.
    ``depth`` keeps the aliases of nested subqueries apart."""

    def __init__(self, reader: Principal, alias: str, latest: str, depth: int) -> None:
        self.reader = reader
        self.a = alias
        self.latest = latest
        self.depth = depth

    def __call__(self, f: Fact) -> Expr:
        a, r = self.a, self.reader
        if f is Fact.WITHDRAWN:
            # A head is live by definition: its flag alone answers for nearly every row.
            return raw(
                Sql().add(
                    f"({a}.is_head = 0 AND"
                    f" ({a}.deleted_at IS NOT NULL OR {a}.key_revoked_at IS NOT NULL))"
                ),
                Sql().add(
                    f"({a}.is_head = 1 OR ({a}.deleted_at IS NULL AND {a}.key_revoked_at IS NULL))"
                ),
            )
        if f is Fact.READER_SUSPENDED:
            return const(r.suspended)
        if f is Fact.INBOUND_DROPS:
            return neg(
                conj(*(self._inbound_keeps(rule.field, tuple(rule.values)) for rule in r.inbound))
            )
        if f is Fact.READER_IS_PUBLISHER:
            if r.identity is None:
                return FALSE
            return raw(Sql().add(f"{a}.author_identity = ?", r.identity))
        if f is Fact.IS_MARKING:
            return raw(
                Sql().add(f"{a}.type = 'marking-definition'"),
                Sql().add(f"{a}.type <> 'marking-definition'"),
            )
        if f is Fact.PUBLISHED_FOR_EVERYONE:
            if PUBLIC not in r.matches:
                return FALSE
            return raw(
                Sql().add(
                    f"EXISTS (SELECT 1 FROM object_audience aud WHERE aud.seq = {self.latest}"
                    " AND aud.principal = ?)",
                    PUBLIC,
                )
            )
        if f is Fact.AUDIENCE_MET:
            return raw(
                Sql()
                .add(
                    f"EXISTS (SELECT 1 FROM object_audience aud WHERE aud.seq = {self.latest}"
                    " AND aud.principal IN "
                )
                .in_list(r.matches)
                .add(")")
            )
        if f is Fact.OUTBOUND_REFUSES:
            return self._exists_not(self._outbound_refuses())
        if f is Fact.END_UNSEEN:
            # Only relationships and sightings have ends (as in ``policy.evidence``); the
            # type test spares every other row the probes below.
            ends = " OR ".join(f"{a}.type = '{t}'" for t in sorted(ENDS_TYPES))
            unseen = self._end_unseen()
            return raw(
                Sql().add(f"(({ends}) AND EXISTS ").extend(unseen).add(")"),
                Sql().add(f"(NOT ({ends}) OR NOT EXISTS ").extend(unseen).add(")"),
            )
        if f is Fact.REFERENCED_BY_READABLE:
            return self._referenced_by_readable()
        raise AssertionError(f"no SQL for the fact {f.value}")

    @staticmethod
    def _exists_not(body: Sql) -> Expr:
        return raw(Sql().add("EXISTS ").extend(body), Sql().add("NOT EXISTS ").extend(body))

    def _inbound_keeps(self, fld: str | None, values: tuple[str, ...]) -> Expr:
        a = self.a
        if fld == "type":
            return raw(Sql().add(f"{a}.type IN ").in_list(values))
        if fld == "tlp":
            return raw(Sql().add(f"({a}.tlp IS NULL OR {a}.tlp IN ").in_list(values).add(")"))
        if fld == "publisher":
            return raw(Sql().add(f"{a}.author_identity IN ").in_list(values))
        if fld == "sector":
            return raw(
                Sql()
                .add(
                    f"EXISTS (SELECT 1 FROM members pm WHERE pm.identity = {a}.author_identity"
                    " AND pm.sector IN "
                )
                .in_list(values)
                .add(")")
            )
        return TRUE

    def _outbound_refuses(self) -> Sql:
        matches = self.reader.matches
        sql = Sql().add(
            "(SELECT 1 FROM rules r WHERE r.direction = 'outbound'"
            f" AND r.identity = {self.a}.author_identity AND ("
            "(r.effect = 'require' AND NOT EXISTS (SELECT 1 FROM rule_values rv"
            " WHERE rv.rule_id = r.rule_id AND rv.value IN "
        )
        sql.in_list(matches).add(
            ")) OR (r.effect = 'deny' AND EXISTS (SELECT 1 FROM rule_values rv"
            " WHERE rv.rule_id = r.rule_id AND rv.value IN "
        )
        return sql.in_list(matches).add("))))")

    def _end_unseen(self) -> Sql:
        """A held (live) end whose latest live version fails ``SEES``."""
        e, t1, t2 = f"e{self.depth}", f"h{self.depth}", f"v{self.depth}"
        sql = Sql().add(
            f"(SELECT 1 FROM object_ends {e} WHERE {e}.seq = {self.latest}"
            f" AND EXISTS (SELECT 1 FROM objects {t1} WHERE {t1}.stix_id = {e}.ref_id AND "
            f"{t1}.deleted_at IS NULL AND {t1}.key_revoked_at IS NULL)"
            f" AND NOT EXISTS (SELECT 1 FROM objects {t2} WHERE {t2}.stix_id = {e}.ref_id AND "
            f"{head_is(t2)} AND "
        )
        end = FactSql(self.reader, t2, f"{t2}.seq", self.depth + 1)
        return render(compile_table(SEES, end), sql).add("))")

    def _referenced_by_readable(self) -> Expr:
        """The latest live version of an object referencing this marking passes
        ``SEES_WITH_ENDS``. ``_may_use_marking`` comes first: a necessary condition
        checked with index probes (the rules imply it), so most markings are settled
        without looking at what references them."""
        a, x, m = self.a, f"x{self.depth}", f"m{self.depth}"
        sql = Sql().add(
            f"EXISTS (SELECT 1 FROM object_markings {m} JOIN objects {x} ON {x}.seq = {m}.seq"
            f" WHERE {m}.marking_id = {a}.stix_id"
            # Always true (a marking is stored before what references it), and it keeps
            # PostgreSQL from hashing this subquery over every object instead of probing it.
            f" AND {m}.seq > {a}.seq AND {head_is(x)} AND "
        )
        user = FactSql(self.reader, x, f"{x}.seq", self.depth + 1)
        render(compile_table(SEES_WITH_ENDS, user), sql).add(")")
        return conj(self._may_use_marking(), raw(sql))

    def _may_use_marking(self) -> Expr:
        """An audience marking's referencing objects are read only by their authors (the
        marking's author: objects use only their own author's audience markings) and by
        readers matching its audience."""
        a = self.a
        sql = Sql().add(
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
        return raw(sql.add(")"))


class CompiledPolicy:
    """The compiled ``READS`` condition per reader, kept (a bounded LRU) by each store: a
    member polling all day asks with the same facts again and again, and compiling the
    tables costs more than the query's first page (``bench/read_cpu.py``)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._kept: OrderedDict[tuple[Principal, str, int], tuple[str, tuple[object, ...]]] = (
            OrderedDict()
        )

    def render(self, reader: Principal, a: str, sql: Sql, depth: int = 0) -> Sql:
        key = (reader, a, depth)
        found = self._kept.get(key)
        if found is None:
            done = render(readable(reader, a, depth), Sql())
            found = (done.text, tuple(done.params))
            self._kept[key] = found
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        return sql.add(found[0], *found[1])


def readable(reader: Principal, a: str, depth: int = 0) -> Expr:
    """``{a}`` may be served to ``reader``: the ``READS`` table, with the facts of the
    object taken from its latest live version."""
    return compile_table(READS, FactSql(reader, a, head_seq(a), depth))


def _collection_scope(sql: Sql, query: ReadQuery, a: str) -> None:
    """``public`` holds exactly the TLP:CLEAR objects (a collection, not a sharing rule)."""
    if query.collection == "public":
        sql.add(f" AND {a}.tlp = ?", Tlp.CLEAR.value)


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


def _readable_versions(
    sql: Sql, reader: Principal, query: ReadQuery, compiled: CompiledPolicy
) -> None:
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
    compiled.render(reader, "ov", sql, depth=5)
    _collection_scope(sql, query, "ov")
    sql.add(") ")


def _versions(sql: Sql, flt: ObjectFilter) -> None:
    wanted = set(flt.versions)
    if "all" in wanted:
        return
    clauses: list[Sql] = []
    for which, op in (("first", "<"), ("last", ">")):
        if which in wanted:
            # A readable head is the last readable version: every later version is dead,
            # and readable ones are live; only older versions need the probe.
            shortcut = "o.is_head = 1 OR " if which == "last" else ""
            c = Sql().add(
                f"({shortcut}NOT EXISTS (SELECT 1 FROM readable_versions lv"
                f" WHERE lv.stix_id = o.stix_id AND lv.version {op} o.version))"
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


def build_read(
    reader: Principal, query: ReadQuery, with_body: bool, compiled: CompiledPolicy | None = None
) -> Sql:
    """SELECT one page (limit + 1 rows, so the caller can tell ``more``)."""
    compiled = compiled or CompiledPolicy(size=2)
    columns = OBJECT_COLUMNS + (", o.body" if with_body else ", NULL AS body")
    sql = Sql()
    if _needs_readable_versions(query.filter):
        _readable_versions(sql, reader, query, compiled)
    sql.add(f"SELECT {columns} FROM objects o WHERE o.seq > ?", query.after_seq)
    _filters(sql, query.filter)
    _collection_scope(sql, query, "o")
    sql.add(" AND ")
    compiled.render(reader, "o", sql)
    _versions(sql, query.filter)
    sql.add(" ORDER BY o.seq LIMIT ?", query.limit + 1)
    return sql
