"""The admin CLI through `main(argv)`: JSON outputs of the interface, one-line errors, exit codes."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from exchange.crypto import SigningKey
from tests.conftest import add_member_cli, cli_json, run_cli


def add_member(db: str, name: str = "CERT-A", **kw: str) -> dict[str, Any]:
    return add_member_cli(db, name, **kw)


def test_member_commands(db_url: str) -> None:
    m = add_member(db_url, economy="de")
    assert set(m) >= {"id", "identity", "name", "kind", "sector", "economy"}
    assert m["economy"] == "DE"
    assert str(m["identity"]).startswith("identity--")
    listed = cli_json("admin", "member", "list", "--db", db_url)
    assert [x["id"] for x in listed["members"]] == [m["id"]]
    shown = cli_json("admin", "member", "show", str(m["id"]), "--db", db_url)
    assert shown["name"] == "CERT-A"
    suspended = cli_json("admin", "member", "suspend", str(m["id"]), "--db", db_url)
    assert suspended["status"] == "suspended"


def test_token_commands(db_url: str) -> None:
    m = add_member(db_url)
    t = cli_json(
        "admin", "token", "issue", str(m["id"]), "--ttl", "90d", "--read-only", "--db", db_url
    )
    assert set(t) >= {"token_id", "token", "member", "expires", "scope"}
    assert t["scope"] == "read-only"
    assert len(str(t["token"])) >= 32
    r = cli_json("admin", "token", "revoke", str(t["token_id"]), "--db", db_url)
    assert r["token_id"] == t["token_id"]
    assert r["revoked"] is True
    assert str(r["revoked_at"]).endswith("Z")


def test_key_commands(db_url: str, tmp_path: Path) -> None:
    m = add_member(db_url)
    out = tmp_path / "a.pem"
    k = cli_json("admin", "key", "generate", str(m["id"]), "--out", str(out), "--db", db_url)
    assert set(k) >= {"key_id", "member", "not_before", "not_after"}
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    private = SigningKey.from_pem(out.read_bytes())
    assert private.public.key_id == k["key_id"]

    code, _, err = run_cli(
        "admin", "key", "generate", str(m["id"]), "--out", str(out), "--db", db_url
    )
    assert code == 1 and len(err.strip().splitlines()) == 1  # never overwrites a key file

    public = tmp_path / "b.pub.pem"
    other = SigningKey.generate()
    public.write_text(other.public.pem())
    added = cli_json(
        "admin", "key", "add", str(m["id"]), "--public-key", str(public), "--db", db_url
    )
    assert added["key_id"] == other.public.key_id

    revoked = cli_json(
        "admin",
        "key",
        "revoke",
        str(k["key_id"]),
        "--since",
        "2030-01-01T00:00:00Z",
        "--db",
        db_url,
    )
    assert revoked["revoked_since"] == "2030-01-01T00:00:00.000000Z"
    keys = cli_json("admin", "key", "list", str(m["id"]), "--db", db_url)["keys"]
    assert {x["key_id"] for x in keys} == {k["key_id"], added["key_id"]}
    expiring = cli_json("admin", "key", "list", "--expiring", "800", "--db", db_url)["keys"]
    assert added["key_id"] in {x["key_id"] for x in expiring}
    assert cli_json("admin", "key", "list", "--expiring", "1", "--db", db_url)["keys"] == []


def test_group_commands(db_url: str) -> None:
    m = add_member(db_url)
    g = cli_json("admin", "group", "create", "finance-isac", "--db", db_url)
    assert g == {"group": "finance-isac", "members": []}
    g = cli_json("admin", "group", "add", "finance-isac", str(m["id"]), "--db", db_url)
    assert g["members"] == [m["id"]]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (
            [
                "admin",
                "member",
                "add",
                "--name",
                "X",
                "--kind",
                "government",
                "--sector",
                "gov",
                "--economy",
                "ZZ",
            ],
            1,
        ),
        (["admin", "member", "show", "no-such-member"], 1),
        (["admin", "token", "issue", "no-such-member"], 1),
        (["admin", "token", "issue", "x", "--ttl", "forever"], 1),
        (["admin", "key", "revoke", "abc"], 1),
        (["admin", "group", "add", "nogroup", "nomember"], 1),
        (["admin", "member", "add", "--name", "X"], 2),
        (["admin", "nothing"], 2),
    ],
)
def test_errors_are_one_line(db_url: str, argv: list[str], code: int) -> None:
    got, out, err = run_cli(*argv, "--db", db_url)
    assert got == code
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_bad_database_url_is_one_line() -> None:
    code, _, err = run_cli("admin", "member", "list", "--db", "mysql://nope")
    assert code == 1
    assert len(err.strip().splitlines()) == 1


def test_duplicate_member_name_refused(db_url: str) -> None:
    add_member(db_url)
    code, _, err = run_cli(
        "admin",
        "member",
        "add",
        "--db",
        db_url,
        "--name",
        "CERT-A",
        "--kind",
        "private",
        "--sector",
        "energy",
        "--economy",
        "FR",
    )
    assert code == 1 and "exists" in err


def test_help_lists_commands() -> None:
    code, out, _ = run_cli("--help")
    assert code == 0
    for command in ("serve", "admin", "publish", "verify"):
        assert command in out


def test_database_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("EXCHANGE_DB", url)
    code, _, err = run_cli("admin", "migrate", "--json")
    assert code == 0, err
    assert (tmp_path / "env.db").exists()
    code, _, err = run_cli("admin", "member", "list", "--json")
    assert code == 0, err


def test_db_before_the_command_is_kept(db_url: str) -> None:
    add_member(db_url)
    code, out, err = run_cli("--db", db_url, "admin", "member", "list", "--json")
    assert code == 0, err
    assert len(__import__("json").loads(out)["members"]) == 1
