"""The audit log through `main(argv)`: admin actions done and refused, never a secret."""

from __future__ import annotations

from tests.cli.test_admin_cli import add_member
from tests.conftest import cli_json, run_cli


def test_admin_actions_are_audited_and_reads_are_not(db_url: str) -> None:
    m = add_member(db_url)
    issued = cli_json("admin", "token", "issue", str(m["id"]), "--ttl", "7d", "--db", db_url)
    cli_json("admin", "member", "list", "--db", db_url)
    cli_json("admin", "member", "suspend", "CERT-A", "--db", db_url)
    code, _out, err = run_cli("admin", "token", "revoke", "no-such-token", "--db", db_url)
    assert code == 1 and err.count("\n") == 1

    first, *entries = cli_json("admin", "audit", "--db", db_url)["entries"]
    assert first["action"] == "migrate"  # the fixture's
    actions = [(e["action"], e["outcome"]) for e in entries]
    assert actions == [
        ("member add", "done"),
        ("token issue", "done"),
        ("member suspend", "done"),
        ("token revoke", "refused"),
    ]
    assert all(e["actor"].startswith("admin:") for e in entries)
    # Targets are resolved member ids, whatever name the administrator typed.
    assert entries[0]["target"] == m["id"] == entries[0]["member"]
    assert entries[1]["target"] == issued["token_id"] and entries[1]["member"] == m["id"]
    assert entries[2]["target"] == m["id"] and entries[2]["member"] == m["id"]
    assert entries[1]["details"] == {"ttl": "7d"}
    assert entries[3]["reason"] and entries[3]["target"] == "no-such-token"
    # The token issued is shown once, to the administrator, and never kept in the log.
    dumped = str(cli_json("admin", "audit", "--db", db_url))
    assert str(issued["token"]) not in dumped


def test_audit_filters_and_plain_text(db_url: str) -> None:
    a = add_member(db_url, "CERT-A")
    add_member(db_url, "CERT-B")
    about_a = cli_json("admin", "audit", "--member", "CERT-A", "--db", db_url)["entries"]
    assert [e["target"] for e in about_a] == [a["id"]]
    assert cli_json("admin", "audit", "--since", "1h", "--limit", "1", "--db", db_url)["entries"]
    future = cli_json("admin", "audit", "--since", "2999-01-01T00:00:00Z", "--db", db_url)
    assert future["entries"] == []
    code, out, _ = run_cli("admin", "audit", "--db", db_url)
    assert code == 0 and out.splitlines()[0].split() == [
        "AT",
        "ACTOR",
        "ACTION",
        "TARGET",
        "OUTCOME",
        "REASON",
    ]
    for bad in (["--since", "yesterday"], ["--limit", "0"]):
        code, _out, err = run_cli("admin", "audit", *bad, "--db", db_url)
        assert code == 1 and err.count("\n") == 1, (bad, err)
