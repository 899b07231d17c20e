"""The read query's SQL, as compiled from the policy's decision tables, against snapshots.

A change to the tables, the facts' SQL or the compiler changes these files; review the new
SQL (and the plans in ``test_query_plans.py``) before accepting it with
``EXCHANGE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/store/test_policy_sql_snapshot.py``.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exchange.models import (
    ObjectFilter,
    Principal,
    ReadQuery,
    RuleDirection,
    RuleEffect,
    StandingRule,
)
from exchange.policy import ANONYMOUS
from exchange.store.query import build_read

SNAPSHOTS = Path(__file__).resolve().parents[1] / "assets" / "policy_sql"
MEMBER = Principal(
    member="member-1",
    identity="identity--00000000-0000-4000-8000-000000000001",
    matches=frozenset(
        {
            "public",
            "members",
            "member:identity--00000000-0000-4000-8000-000000000001",
            "sector:energy",
            "economy:NL",
            "kind:government",
            "group:grid",
        }
    ),
)
FILTERED = MEMBER.model_copy(
    update={
        "inbound": (
            StandingRule(
                rule_id="r1",
                member="member-1",
                direction=RuleDirection.INBOUND,
                effect=RuleEffect.REQUIRE,
                field="tlp",
                values=("clear", "green"),
                created=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            StandingRule(
                rule_id="r2",
                member="member-1",
                direction=RuleDirection.INBOUND,
                effect=RuleEffect.REQUIRE,
                field="sector",
                values=("energy",),
                created=datetime(2026, 1, 1, tzinfo=UTC),
            ),
        )
    }
)
CASES = {
    "member_last": (MEMBER, ReadQuery(collection="bulletins", filter=ObjectFilter(), limit=100)),
    "member_all_by_id": (
        MEMBER,
        ReadQuery(
            collection="bulletins",
            filter=ObjectFilter(ids=("indicator--1",), versions=("all",)),
            limit=100,
        ),
    ),
    "member_filtered_first": (
        FILTERED,
        ReadQuery(collection="bulletins", filter=ObjectFilter(versions=("first",)), limit=100),
    ),
    "anonymous_public": (
        ANONYMOUS,
        ReadQuery(collection="public", filter=ObjectFilter(versions=("all",)), limit=100),
    ),
    "suspended": (
        MEMBER.model_copy(update={"suspended": True, "matches": frozenset()}),
        ReadQuery(collection="bulletins", filter=ObjectFilter(versions=("all",)), limit=100),
    ),
}


def pretty(text: str, params: list[object]) -> str:
    """One clause per line, so a review shows what changed."""
    out = re.sub(r" (AND|OR) ", r"\n\1 ", text)
    return out + "\n-- params: " + repr(params) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_sql_matches_its_snapshot(name: str) -> None:
    reader, query = CASES[name]
    sql = build_read(reader, query, with_body=True)
    got = pretty(sql.text, sql.params)
    path = SNAPSHOTS / f"{name}.sql"
    if os.environ.get("EXCHANGE_UPDATE_SNAPSHOTS") == "1":
        path.write_text(got, "utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with EXCHANGE_UPDATE_SNAPSHOTS=1"
    assert got == path.read_text("utf-8"), f"{name}: the generated SQL changed (see module doc)"


def test_a_suspended_reader_compiles_to_nothing() -> None:
    reader, query = CASES["suspended"]
    sql = build_read(reader, query, with_body=False)
    assert "0 = 1" in sql.text and "object_audience" not in sql.text
