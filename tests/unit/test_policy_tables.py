"""The sharing policy's decision tables, and what is derived from them.

- ``compile_table`` (the store's SQL) is faithful to ``decide`` (Python): for every table
  and every combination of its facts, the compiled condition holds exactly where the
  table's first matching row allows. Checked exhaustively on symbolic facts.
- Every fact has an SQL form and a Python form; every table ends in a catch-all row.
- ``docs/sharing.md`` prints the tables exactly as they are (``policy.render_markdown``).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from exchange import policy
from exchange.models import Principal
from exchange.policy import COMPOUND_FACTS, FACTS, TABLES, Evidence, Fact, FactNeeded, Table
from exchange.store.query import Expr, FactSql, Sql, compile_table, raw

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sharing.md"
MEMBER = Principal(
    member="m", identity="identity--1", matches=frozenset({"public", "members", "member:x"})
)


def symbolic(f: Fact) -> Expr:
    return raw(Sql().add(f.value), Sql().add("!" + f.value))


def holds(x: Expr, world: dict[Fact, bool]) -> bool:
    """Evaluate a compiled condition whose fragments are symbolic facts."""
    if x.op == "const":
        return x.value
    if x.op == "raw":
        assert x.sql is not None
        text = x.sql.text
        return not world[Fact(text[1:])] if text.startswith("!") else world[Fact(text)]
    if x.op == "not":
        return not holds(x.parts[0], world)
    values = [holds(p, world) for p in x.parts]
    return all(values) if x.op == "and" else any(values)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_the_compiled_sql_condition_is_the_table(table: Table) -> None:
    facts = sorted(table.facts)
    compiled = compile_table(table, symbolic)
    for values in itertools.product((False, True), repeat=len(facts)):
        world = dict(zip(facts, values, strict=True))
        decision = policy.decide(table, lambda f, w=world: Evidence(w[f]))  # type: ignore[misc]
        assert holds(compiled, world) is decision.allowed, (table.name, world, decision)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_every_table_ends_in_a_catch_all_and_every_rule_is_reachable(table: Table) -> None:
    assert table.rows[-1].when == ()
    facts = sorted(table.facts)
    decided = set()
    for values in itertools.product((False, True), repeat=len(facts)):
        world = dict(zip(facts, values, strict=True))
        for i, row in enumerate(table.rows):
            if all(world[f] is want for f, want in row.when):
                decided.add(i)
                break
    assert decided == set(range(len(table.rows))), f"{table.name}: a row can never decide"


def test_every_fact_has_a_meaning_an_sql_form_and_a_python_form() -> None:
    assert set(FACTS) == set(Fact)
    version = policy.ObjectFacts(
        stix_id="relationship--1",
        type="relationship",
        tlp=None,
        author_identity=None,
        author_sector=None,
        audience=("members",),
        deleted=False,
        ends=("indicator--1",),
    )
    ask = policy.evidence(MEMBER, version)
    for f in Fact:
        assert isinstance(FactSql(MEMBER, "o", "o.seq", 0)(f), Expr)
        if f in COMPOUND_FACTS:
            with pytest.raises(FactNeeded):
                ask(f)
        else:
            assert isinstance(ask(f), Evidence)


def test_docs_print_the_tables_as_they_are() -> None:
    text = DOCS.read_text("utf-8")
    assert policy.render_markdown() in text, (
        "docs/sharing.md must contain policy.render_markdown() verbatim; regenerate it with\n"
        "  .venv/bin/python -c 'from exchange import policy; print(policy.render_markdown())'"
    )
