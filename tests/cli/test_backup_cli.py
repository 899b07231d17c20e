"""`exchange admin backup FILE` / `admin restore FILE`: an online, logical backup that a new
database serves exactly as the old one did (the helpers here serve the PostgreSQL test too)."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from exchange.config import Settings
from exchange.store import backup as backup_module
from exchange.store.backup import SKIPPED
from tests.api.conftest import get, post_objects, restricted
from tests.conftest import TAXII, LiveServer, cli_json, free_port, indicator, run_cli

if TYPE_CHECKING:
    from tests.conftest import TestMember


@dataclass
class Population:
    members: list[TestMember]
    withdrawn: str
    status_id: str
    cursor: str


def populate(server: LiveServer, make_member: Any) -> Population:
    """Members, a group, a rule, a revoked token, objects of several TLPs, a withdrawn one."""
    a, b, c = make_member("CERT-A"), make_member("CERT-B", economy="FR"), make_member("CERT-C")
    cli_json("admin", "group", "create", "ministries", "--db", a.db)
    cli_json("admin", "group", "add", "ministries", b.id, "--db", a.db)
    cli_json("admin", "rules", "inbound", c.id, "type", "indicator", "report", "--db", a.db)
    spare = cli_json("admin", "token", "issue", a.id, "--db", a.db)
    cli_json("admin", "token", "revoke", spare["token_id"], "--db", a.db)

    marking, amber = restricted(a, ["group:ministries"])
    objects = [
        a.sign(indicator("green")),
        a.sign(indicator("clear")),
        marking,
        amber,
        a.sign(indicator("green")),
    ]
    status = post_objects(server, a.token, objects)
    assert status["success_count"] == len(objects)
    post_objects(server, b.token, [b.sign(indicator("green"))])
    withdrawn = objects[-1]["id"]
    response = requests.delete(
        f"{server.api_root}collections/bulletins/objects/{withdrawn}/",
        headers={"Accept": TAXII, "Authorization": f"Bearer {a.token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    page = get(server, "collections/bulletins/objects/", a.token, params={"limit": 2}).json()
    assert page.get("more") and page.get("next")
    return Population(
        members=[a, b, c], withdrawn=withdrawn, status_id=status["id"], cursor=page["next"]
    )


def observe(server: LiveServer, population: Population) -> dict[str, Any]:
    """What the exchange serves, member by member (objects byte for byte), and what the admin
    CLI lists."""
    seen: dict[str, Any] = {}
    for m in population.members:
        envelope = get(server, "collections/bulletins/objects/", m.token).json()
        seen[f"objects {m.name}"] = envelope.get("objects", [])
        seen[f"keys {m.name}"] = get(server, "keys/", m.token).json()
    a = population.members[0]
    seen["public"] = get(server, "collections/public/objects/").json().get("objects", [])
    seen["next page"] = get(
        server,
        "collections/bulletins/objects/",
        a.token,
        params={"limit": 2, "next": population.cursor},
    ).json()
    # the transparency log moves too: the same signed head, the same proofs
    seen["log head"] = get(server, "log/", a.token).json()
    seen["log key"] = get(server, "log/key/", a.token).json()
    seen["consistency"] = get(
        server,
        "log/consistency/",
        a.token,
        params={"first": 1, "second": seen["log head"]["tree_size"]},
    ).json()
    status = get(server, f"status/{population.status_id}/", a.token)
    assert status.status_code == 200, status.text
    seen["status"] = status.json()
    for area in (("member", "list"), ("key", "list"), ("group", "list"), ("rules", "list")):
        seen[" ".join(area)] = cli_json("admin", *area, "--db", server.settings.db)
    return seen


def start(db: str) -> LiveServer:
    live = LiveServer(Settings(db=db, port=free_port(), max_content_length=256 * 1024))
    live.start()
    return live


def assert_serves_on(live: LiveServer, population: Population) -> None:
    """The restored exchange still ingests: new objects sort after everything restored."""
    a = population.members[0]
    fresh = a.sign(indicator("green"))
    assert post_objects(live, a.token, [fresh])["success_count"] == 1
    served = get(live, "collections/bulletins/objects/", a.token).json()["objects"]
    assert served[-1]["id"] == fresh["id"]
    assert population.withdrawn not in {o["id"] for o in served}


def read_backup(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


# --- tests ----------------------------------------------------------------------------------------


def test_backup_then_restore_into_a_new_sqlite_database(
    server: LiveServer,
    make_member: Any,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small pages, so backup reads tables page by page and restore inserts in several batches.
    monkeypatch.setattr(backup_module, "BATCH_ROWS", 2)
    population = populate(server, make_member)
    before = observe(server, population)
    assert len(before["objects CERT-A"]) >= 5 and before["public"]
    assert before["objects CERT-B"] != before["objects CERT-C"]  # the amber one, the rule

    # Online: the exchange keeps serving on the database while it is backed up.
    backup = tmp_path / "exchange-backup.jsonl.gz"
    made = cli_json("admin", "backup", str(backup), "--db", db_url)
    assert made["file"] == str(backup)
    assert made["tables"]["members"] == 3
    assert made["tables"]["objects"] >= 7
    assert "schema_version" not in made["tables"]
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600  # it holds the exchange's secrets

    lines = read_backup(backup)
    header = lines[0]
    assert header["format"] == "exchange-backup" and header["version"] == 1
    assert isinstance(header["schema_version"], int) and header["created"].endswith("Z")
    tables = [line["table"] for line in lines[1:-1]]
    first = {t: tables.index(t) for t in dict.fromkeys(tables)}
    assert first["members"] < first["tokens"] < first["objects"] < first["object_markings"]
    assert lines[-1]["end"] is True and lines[-1]["tables"] == made["tables"]
    secret = next(line["row"]["value"] for line in lines[1:-1] if line["table"] == "secrets")
    assert set(secret) == {"base64"}
    # Every table of the schema, whichever migrations made it (bar the two left out).
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        schema = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
    assert set(made["tables"]) == schema - SKIPPED

    restored_db = f"sqlite:///{tmp_path / 'restored.db'}"
    loaded = cli_json("admin", "restore", str(backup), "--db", restored_db)
    assert loaded["tables"] == made["tables"]

    restored = start(restored_db)
    try:
        assert observe(restored, population) == before
        assert_serves_on(restored, population)
    finally:
        restored.stop()


def test_restore_refuses_a_database_that_holds_data(
    server: LiveServer, make_member: Any, db_url: str, tmp_path: Path
) -> None:
    make_member("CERT-A")
    backup = tmp_path / "b.jsonl.gz"
    cli_json("admin", "backup", str(backup), "--db", db_url)

    code, out, err = run_cli("admin", "restore", str(backup), "--db", db_url)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "not empty" in err and "Traceback" not in err

    # Into a new database once; a second time it holds data and is refused.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert run_cli("admin", "restore", str(backup), "--db", other)[0] == 0
    code, out, err = run_cli("admin", "restore", str(backup), "--db", other, "--json")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1


def test_restore_refuses_bad_files_without_touching_the_database(tmp_path: Path) -> None:
    target = tmp_path / "new.db"
    for name, content in (
        ("plain.txt", b"not a backup\n"),
        ("other.gz", gzip.compress(b'{"format": "something-else"}\n')),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        code, out, err = run_cli("admin", "restore", str(path), "--db", f"sqlite:///{target}")
        assert code == 1 and out == "" and len(err.strip().splitlines()) == 1, err
    code, _, err = run_cli(
        "admin", "restore", str(tmp_path / "missing.gz"), "--db", f"sqlite:///{target}"
    )
    assert code == 1 and "no backup file" in err
    assert not target.exists()
    code, _, err = run_cli(
        "admin", "backup", str(tmp_path / "x.gz"), "--db", f"sqlite:///{tmp_path / 'none.db'}"
    )
    assert code == 1 and len(err.strip().splitlines()) == 1


def test_a_cut_off_backup_restores_nothing(
    server: LiveServer, make_member: Any, db_url: str, tmp_path: Path
) -> None:
    make_member("CERT-A")
    backup = tmp_path / "b.jsonl.gz"
    cli_json("admin", "backup", str(backup), "--db", db_url)
    lines = gzip.decompress(backup.read_bytes()).splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b"".join(lines[:-3])))  # no trailer, rows missing
    target = f"sqlite:///{tmp_path / 'target.db'}"
    code, out, err = run_cli("admin", "restore", str(cut), "--db", target)
    assert code == 1 and out == "" and "cut off" in err
    # Nothing was kept: the whole backup restores into the same database afterwards.
    assert run_cli("admin", "restore", str(backup), "--db", target)[0] == 0
    assert len(cli_json("admin", "member", "list", "--db", target)["members"]) == 1
