"""What a new administrator and an analyst trip over (issue 11's CLI part, issue 9's durations),
through `exchange.cli.main(argv)`: bounded durations, token and key listings, members by name,
tokens kept out of argv, no database made by mistake, checked rule values, plain URL errors,
the read summary of `explain`, re-runnable `member add` and shell completion."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cli.test_explain_cli import publish
from tests.conftest import LiveServer, add_member_cli, cli_json, indicator, run_cli


def one_line_error(code: int, out: str, err: str, expected: int = 1) -> str:
    assert code == expected, (code, out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def member(db: str, name: str = "CERT-A", **kw: str) -> dict[str, Any]:
    return add_member_cli(db, name, **kw)


# --- 1. durations -----------------------------------------------------------------------


BAD_DURATIONS = [
    "0s",
    "0d",
    "0m",
    "0",
    "--ttl=-1d",
    "100000000d",
    "3651d",
    "1.5d",
    "\uff11d",  # a full-width digit
    "\u0663d",  # an Arabic-Indic digit
    "d",
    "90",
    "90 d",
    "1y",
    "",
]


@pytest.mark.parametrize("ttl", BAD_DURATIONS)
def test_bad_token_durations_are_refused(db_url: str, ttl: str) -> None:
    m = member(db_url)
    flag = [ttl] if ttl.startswith("--") else ["--ttl", ttl]
    err = one_line_error(*run_cli("admin", "token", "issue", m["id"], *flag, "--db", db_url))
    assert "1s to 3650d" in err
    assert cli_json("admin", "token", "list", "--db", db_url)["tokens"] == []


@pytest.mark.parametrize("ttl", BAD_DURATIONS)
def test_bad_key_durations_are_refused(db_url: str, tmp_path: Path, ttl: str) -> None:
    m = member(db_url)
    out = tmp_path / "k.pem"
    flag = [ttl] if ttl.startswith("--") else ["--ttl", ttl]
    code, stdout, err = run_cli(
        "admin", "key", "generate", m["id"], "--out", str(out), *flag, "--db", db_url
    )
    if ttl == "":  # an empty --ttl is the default, as if not given
        assert code == 0, err
        return
    one_line_error(code, stdout, err)
    assert not out.exists()
    assert cli_json("admin", "key", "list", m["id"], "--db", db_url)["keys"] == []


def test_negative_duration_as_separate_word_is_a_usage_error(db_url: str) -> None:
    m = member(db_url)
    one_line_error(
        *run_cli("admin", "token", "issue", m["id"], "--ttl", "-1d", "--db", db_url), expected=2
    )


def test_durations_at_the_ends_of_the_range_and_never(db_url: str, tmp_path: Path) -> None:
    m = member(db_url)
    short = cli_json("admin", "token", "issue", m["id"], "--ttl", "1m", "--db", db_url)
    long = cli_json("admin", "token", "issue", m["id"], "--ttl", "3650d", "--db", db_url)
    never = cli_json("admin", "token", "issue", m["id"], "--ttl", "never", "--db", db_url)
    assert short["expires"] < long["expires"] and never["expires"] is None
    key = cli_json(
        "admin",
        "key",
        "generate",
        m["id"],
        "--out",
        str(tmp_path / "k.pem"),
        "--ttl",
        "52w",
        "--db",
        db_url,
    )
    assert key["not_after"] > key["not_before"]


def test_help_states_the_range() -> None:
    for argv in (["admin", "token", "issue", "--help"], ["admin", "key", "generate", "--help"]):
        code, out, _ = run_cli(*argv)
        assert code == 0 and "1s to 3650d" in out


# --- 2. listings ---------------------------------------------------------------------------


def test_token_list_never_shows_the_token(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("Bank-B")
    extra = cli_json(
        "admin", "token", "issue", "Bank-B", "--read-only", "--ttl", "30d", "--db", a.db
    )
    listed = cli_json("admin", "token", "list", "--db", a.db)["tokens"]
    assert {t["token_id"] for t in listed} == {a.token_id, b.token_id, extra["token_id"]}
    text = json.dumps(listed)
    for secret in (a.token, b.token, extra["token"]):
        assert secret not in text
    assert all("hash" not in k for t in listed for k in t)
    only_b = cli_json("admin", "token", "list", "Bank-B", "--db", a.db)["tokens"]
    assert {t["token_id"] for t in only_b} == {b.token_id, extra["token_id"]}
    row = next(t for t in only_b if t["token_id"] == extra["token_id"])
    assert (row["scope"], row["name"], row["member"]) == ("read-only", "Bank-B", b.id)
    assert row["expires"] == extra["expires"] and row["last_used"] is None

    # A request with the token records its use.
    resp = requests.get(
        server.api_root,
        headers={
            "Authorization": f"Bearer {extra['token']}",
            "Accept": "application/taxii+json;version=2.1",
        },
    )
    assert resp.status_code == 200
    row = next(
        t
        for t in cli_json("admin", "token", "list", b.id, "--db", a.db)["tokens"]
        if t["token_id"] == extra["token_id"]
    )
    assert row["last_used"] is not None and row["last_used"].endswith("Z")

    code, out, err = run_cli("admin", "token", "list", "--db", a.db)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "TOKEN_ID",
        "MEMBER",
        "NAME",
        "SCOPE",
        "EXPIRES",
        "LAST_USED",
        "REVOKED",
    ]
    assert len(lines) == 4 and "Bank-B" in out and "CERT-A" in out
    assert all(secret not in out for secret in (a.token, b.token, extra["token"]))


def test_key_show(make_member: Any) -> None:
    a = make_member("CERT-A")
    key_id = cli_json("admin", "key", "list", "CERT-A", "--db", a.db)["keys"][0]["key_id"]
    shown = cli_json("admin", "key", "show", key_id, "--db", a.db)
    assert shown["key_id"] == key_id and shown["member"] == a.id and shown["name"] == "CERT-A"
    assert shown["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    code, out, _ = run_cli("admin", "key", "show", key_id, "--db", a.db)
    assert code == 0 and f"key_id: {key_id}" in out and "name: CERT-A" in out
    assert "PRIVATE" not in out
    one_line_error(*run_cli("admin", "key", "show", "0" * 64, "--db", a.db))


def test_every_plain_list_has_a_header_row_and_names(make_member: Any) -> None:
    a = make_member("CERT-A")
    db = a.db
    cli_json("admin", "group", "create", "isac", "--db", db)
    cli_json("admin", "group", "add", "isac", "CERT-A", "--db", db)
    cli_json("admin", "rules", "inbound", "CERT-A", "tlp", "green", "--db", db)
    expected = {
        ("member", "list"): ["ID", "NAME", "STATUS", "KIND", "ECONOMY", "SECTOR"],
        ("token", "list"): ["TOKEN_ID", "MEMBER", "NAME"],
        ("key", "list"): ["KEY_ID", "MEMBER", "NAME"],
        ("group", "list"): ["GROUP", "SIZE", "MEMBERS"],
        ("rules", "list"): ["RULE_ID", "MEMBER", "NAME"],
    }
    for (area, action), header in expected.items():
        code, out, err = run_cli("admin", area, action, "--db", db)
        assert code == 0, err
        first, *rest = out.splitlines()
        assert first.split()[: len(header)] == header, out
        assert rest and any("CERT-A" in line for line in rest), out
        code, out, _ = run_cli("admin", area, action, "--db", db, "--json")
        assert code == 0 and len(out.strip().splitlines()) == 1
        assert isinstance(json.loads(out), dict)


# --- 3. the token out of argv ------------------------------------------------------------------


def test_token_from_environment_and_file(
    server: LiveServer, make_member: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_member("CERT-A")
    path = tmp_path / "bulletin.json"
    path.write_text(json.dumps({"objects": [indicator("green")]}))
    base = ["publish", str(path), "--url", server.api_root, "--key", str(a.key_path), "--json"]

    one_line_error(*run_cli(*base), expected=2)  # no token at all: a usage error
    token_file = tmp_path / "token"
    token_file.write_text(a.token + "\n")
    token_file.chmod(0o600)
    code, out, err = run_cli(*base, "--token-file", str(token_file))
    assert code == 0, err
    assert json.loads(out)["success_count"] == 1

    monkeypatch.setenv("EXCHANGE_TOKEN", a.token)
    path.write_text(json.dumps({"objects": [indicator("green")]}))
    code, out, err = run_cli(*base)
    assert code == 0, err
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps({"objects": [a.sign(indicator("green"))]}))
    code, out, err = run_cli("verify", str(feed), "--url", server.api_root, "--json")
    assert code == 0, err

    one_line_error(*run_cli(*base, "--token-file", str(tmp_path / "missing")))
    (tmp_path / "empty").write_text("\n")
    one_line_error(*run_cli(*base, "--token-file", str(tmp_path / "empty")))
    one_line_error(*run_cli(*base, "--token", "x", "--token-file", str(token_file)), expected=2)
    monkeypatch.setenv("EXCHANGE_TOKEN", "not-a-token")
    one_line_error(*run_cli(*base))  # the server refuses it: 401, one line


# --- 4. no database made by mistake -------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["admin", "member", "list"],
        [
            "admin",
            "member",
            "add",
            "--name",
            "X",
            "--kind",
            "government",
            "--sector",
            "government",
            "--economy",
            "DE",
        ],
        ["admin", "token", "list"],
        ["admin", "key", "list"],
        ["admin", "rules", "list"],
        ["admin", "group", "list"],
    ],
)
def test_admin_commands_do_not_create_a_database(tmp_path: Path, argv: list[str]) -> None:
    missing = tmp_path / "typo.db"
    err = one_line_error(*run_cli(*argv, "--db", f"sqlite:///{missing}"))
    assert "no database" in err and "migrate" in err
    assert not missing.exists()


def test_migrate_creates_the_database(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    assert cli_json("admin", "migrate", "--db", f"sqlite:///{path}")["schema_version"] >= 8
    assert path.is_file()
    assert cli_json("admin", "member", "list", "--db", f"sqlite:///{path}") == {"members": []}


# --- 5. rule values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("tlp", ["purple"]),
        ("tlp", ["green", "amber-strict"]),
        ("type", ["not-a-type"]),
        ("type", ["indicator", "Indicator"]),
        ("publisher", ["nope"]),
        ("publisher", [f"identity--{uuid.uuid4()}"]),
        ("sector", ["not-a-sector"]),
    ],
)
def test_inbound_rule_values_are_checked(db_url: str, field: str, values: list[str]) -> None:
    m = member(db_url)
    one_line_error(*run_cli("admin", "rules", "inbound", m["id"], field, *values, "--db", db_url))
    assert cli_json("admin", "rules", "list", "--db", db_url)["rules"] == []


def test_good_inbound_rule_values_are_normalised(db_url: str) -> None:
    a, b = member(db_url), member(db_url, "Bank-B", kind="private", sector="financial-services")
    tlp = cli_json(
        "admin",
        "rules",
        "inbound",
        a["id"],
        "tlp",
        "TLP:GREEN",
        "clear",
        "amber+strict",
        "--db",
        db_url,
    )
    assert tlp["values"] == ["green", "clear", "amber+strict"]
    by_name = cli_json(
        "admin", "rules", "inbound", a["id"], "publisher", "Bank-B", b["id"], "--db", db_url
    )
    assert set(by_name["values"]) == {b["identity"]}
    types = cli_json(
        "admin", "rules", "inbound", a["id"], "type", "indicator", "x-acme-note", "--db", db_url
    )
    assert types["values"] == ["indicator", "x-acme-note"]
    sectors = cli_json(
        "admin",
        "rules",
        "inbound",
        a["id"],
        "sector",
        "energy",
        "financial-services",
        "--db",
        db_url,
    )
    assert sectors["values"] == ["energy", "financial-services"]


# --- 6. wrong URLs -------------------------------------------------------------------------------


def test_unreachable_url_is_one_plain_line(make_member: Any, tmp_path: Path) -> None:
    from tests.conftest import free_port

    a = make_member("CERT-A")
    path = tmp_path / "feed.json"
    path.write_text(json.dumps({"objects": [a.sign(indicator("green"))]}))
    url = f"http://127.0.0.1:{free_port()}/api/v1/"
    for argv in (["verify", str(path)], ["publish", str(path), "--key", str(a.key_path)]):
        err = one_line_error(*run_cli(*argv, "--url", url, "--token", a.token))
        assert f"cannot reach {url}" in err
        for internal in ("urllib3", "HTTPConnection", "Max retries", "Errno", "object at 0x"):
            assert internal not in err


def test_url_that_is_not_an_api_root(server: LiveServer, make_member: Any, tmp_path: Path) -> None:
    a = make_member("CERT-A")
    path = tmp_path / "feed.json"
    path.write_text(json.dumps({"objects": [a.sign(indicator("green"))]}))
    for url in (
        server.url + "/",
        server.url + "/taxii2/",
        server.url + "/api/v2/",
        server.url + "/healthz",
    ):
        for argv in (["verify", str(path)], ["publish", str(path), "--key", str(a.key_path)]):
            err = one_line_error(*run_cli(*argv, "--url", url, "--token", a.token))
            assert "expected an API root such as http://host:8080/api/v1/" in err, err
    err = one_line_error(
        *run_cli("verify", str(path), "--url", "127.0.0.1:8080/api/v1/", "--token", a.token)
    )
    assert "expected an API root" in err


# --- 8. usage and members by name -----------------------------------------------------------


def test_bare_exchange_prints_the_usage() -> None:
    code, out, err = run_cli()
    assert code == 2 and out == ""
    assert err.startswith("usage: exchange") and "admin" in err and "publish" in err
    code, _, err = run_cli("admin")
    assert code == 2 and err.startswith("usage: exchange admin") and "member" in err


def test_members_by_name(db_url: str, tmp_path: Path) -> None:
    a = member(db_url, "CERT-A")
    member(db_url, "Cert-A", economy="FR")
    shown = cli_json("admin", "member", "show", "CERT-A", "--db", db_url)
    assert shown["id"] == a["id"]
    assert cli_json("admin", "member", "show", a["identity"], "--db", db_url)["id"] == a["id"]
    token = cli_json("admin", "token", "issue", "CERT-A", "--db", db_url)
    assert token["member"] == a["id"]
    key = cli_json(
        "admin", "key", "generate", "CERT-A", "--out", str(tmp_path / "a.pem"), "--db", db_url
    )
    assert key["member"] == a["id"]
    err = one_line_error(*run_cli("admin", "member", "show", "cert-a", "--db", db_url))
    assert "ambiguous" in err
    err = one_line_error(*run_cli("admin", "token", "issue", "nobody", "--db", db_url))
    assert "no member" in err
    solo = member(db_url, "Bank-B", kind="private", sector="financial-services")
    assert cli_json("admin", "member", "show", "bank-b", "--db", db_url)["id"] == solo["id"]


# --- 9. what a member reads --------------------------------------------------------------------


def test_explain_summary(make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    assert c.name == "CERT-C"
    publish(a, a.sign(indicator("green")), a.sign(indicator("clear")), a.sign(indicator("green")))
    publish(b, b.sign(indicator("clear")))
    cli_json("admin", "rules", "inbound", "CERT-C", "tlp", "clear", "--db", a.db)

    summary = cli_json("admin", "explain", "CERT-B", "--db", a.db)
    assert summary["member"] == b.id and summary["name"] == "CERT-B"
    pubs = {p["name"]: p["objects"] for p in summary["by_publisher"]}
    assert pubs["CERT-A"] == 3 and pubs["CERT-B"] == 1
    # the exchange's own publishers are named too: no bare identity in the summary
    assert pubs["the exchange"] >= 1 and pubs["extension definitions"] >= 1
    assert None not in pubs
    assert summary["by_tlp"]["clear"] >= 2 and summary["by_tlp"]["red"] == 0
    assert summary["objects"] == sum(summary["by_tlp"].values())

    narrowed = cli_json("admin", "explain", "CERT-C", "--db", a.db)
    assert set(k for k, v in narrowed["by_tlp"].items() if v) == {"clear"}
    assert [r["field"] for r in narrowed["rules"]] == ["tlp"]
    assert {p["name"]: p["objects"] for p in narrowed["by_publisher"]}["CERT-A"] == 1

    code, out, err = run_cli("admin", "explain", "CERT-C", "--db", a.db)
    assert code == 0, err
    assert "CERT-C" in out and "PUBLISHER" in out and "RULE_ID" in out and "tlp" in out


# --- 10. re-runnable member add -----------------------------------------------------------------


def test_member_add_if_absent(db_url: str) -> None:
    argv = [
        "admin",
        "member",
        "add",
        "--db",
        db_url,
        "--name",
        "CERT-A",
        "--kind",
        "government",
        "--sector",
        "government",
        "--economy",
        "DE",
        "--if-absent",
    ]
    first = cli_json(*argv)
    again = cli_json(*argv)
    assert first["created_now"] is True and again["created_now"] is False
    assert again["id"] == first["id"]
    assert len(cli_json("admin", "member", "list", "--db", db_url)["members"]) == 1
    different = [*argv[:-2], "FR", "--if-absent"]
    err = one_line_error(*run_cli(*different))
    assert "exists already" in err
    one_line_error(*run_cli(*argv[:-1]))  # without --if-absent: refused, as before


# --- 11. completion -------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts(shell: str) -> None:
    code, out, err = run_cli("completion", shell)
    assert code == 0, err
    for word in ("admin", "publish", "verify", "token-file", "if-absent", "suspend"):
        assert word in out
    if shell == "zsh":
        assert out.startswith("#compdef exchange")
    else:
        assert "complete" in out and "_shtab_exchange" in out
    one_line_error(*run_cli("completion", "fish"), expected=2)
