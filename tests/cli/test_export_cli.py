"""``exchange admin export MEMBER --out FILE`` (docs/privacy.md), on SQLite and PostgreSQL:
everything held from and about the member, nothing secret, nothing of other members."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api.conftest import get, post_objects
from tests.conftest import (
    STORES,
    LiveServer,
    cli_json,
    fresh_database,
    indicator,
    run_cli,
)


@pytest.fixture(params=STORES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def _wait_delivered(db_url: str, stix_id: str, member: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = cli_json("admin", "deliveries", stix_id, "--db", db_url)["deliveries"]
        if any(d["member"] == member for d in found):
            return
        time.sleep(0.2)
    raise AssertionError(f"{stix_id} was not delivered to {member}")


def test_export_holds_everything_of_the_member_and_nothing_secret(
    server: LiveServer, make_member: Any, db_url: str, tmp_path: Path
) -> None:
    author, other = make_member(), make_member()
    mine = author.sign(indicator("green"))
    theirs = other.sign(indicator("green"))
    post_objects(server, author.token, [mine])
    post_objects(server, other.token, [theirs])
    anonymous = author.sign(indicator("green"))
    resp = server.api_root + "collections/bulletins/objects/?anonymous=true"
    sealed = requests.post(
        resp,
        data=json.dumps({"objects": [anonymous]}),
        headers={
            "Content-Type": "application/taxii+json;version=2.1",
            "Accept": "application/taxii+json;version=2.1",
            "Authorization": f"Bearer {author.token}",
        },
        timeout=30,
    )
    assert sealed.status_code == 202 and sealed.json()["success_count"] == 1
    # the other member reads the author's object; the author reads the other's
    assert get(server, "collections/bulletins/objects/", other.token).status_code == 200
    assert get(server, "collections/bulletins/objects/", author.token).status_code == 200
    _wait_delivered(db_url, mine["id"], other.id)
    _wait_delivered(db_url, theirs["id"], author.id)
    rule = cli_json("admin", "rules", "inbound", author.id, "type", "indicator", "--db", db_url)

    out = tmp_path / "export.json"
    done = cli_json("admin", "export", author.name, "--out", str(out), "--db", db_url)
    assert done["member"] == author.id and done["file"] == str(out)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    text = out.read_text("utf-8")
    doc = json.loads(text)
    assert doc["format"] == "exchange-member-export/1"
    assert doc["member"]["id"] == author.id and doc["member"]["identity"] == author.identity
    assert [t["token_id"] for t in doc["tokens"]] == [author.token_id]
    assert "token_hash" not in text and author.token not in text and other.token not in text
    assert [k["key_id"] for k in doc["keys"]] == [author.key.public.key_id]
    assert "PRIVATE KEY" not in text
    assert [r["rule_id"] for r in doc["rules"]] == [rule["rule_id"]]
    assert [o["id"] for o in doc["objects"]] == [mine["id"]]
    assert doc["objects"][0]["object"] == mine
    assert [a["original_id"] for a in doc["anonymous_submissions"]] == [anonymous["id"]]
    assert doc["anonymous_submissions"][0]["original"] == anonymous
    assert {d["stix_id"] for d in doc["deliveries_received"]} >= {theirs["id"]}
    assert {(d["member"], d["stix_id"]) for d in doc["deliveries_of_its_objects"]} >= {
        (other.id, mine["id"])
    }
    assert {s["id"] for s in doc["statuses"]} and all(
        s["member"] == author.id for s in doc["statuses"]
    )
    actions = [e["action"] for e in doc["audit"]]
    assert "token issue" in actions and "key generate" in actions and "rules inbound" in actions
    assert all(e["member"] == author.id for e in doc["audit"])
    # nothing of the other member beyond what the author itself was told
    assert other.token_id not in text and other.key.public.key_id not in text
    assert theirs["id"] not in json.dumps(doc["objects"])

    # the export is audited; a file is never overwritten
    last = cli_json("admin", "audit", "--member", author.id, "--db", db_url)["entries"][-1]
    assert last["action"] == "export" and last["details"]["out"] == str(out)
    code, _, err = run_cli("admin", "export", author.id, "--out", str(out), "--db", db_url)
    assert code == 1 and "exists already" in err
    code, _, err = run_cli(
        "admin", "export", "nobody", "--out", str(tmp_path / "x.json"), "--db", db_url
    )
    assert code == 1 and not (tmp_path / "x.json").exists()
