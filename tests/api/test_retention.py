"""Retention and purge (docs/privacy.md), on SQLite and PostgreSQL: what is past its period
is gone from every read path, the delivery ledger and the sealed records, ``--dry-run`` only
lists it, and the transparency log keeps its leaves (the head and consistency proofs hold)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from exchange.config import Settings
from tests.api.conftest import get, post_objects, restricted, ts
from tests.api.test_sharing_leaks import every_path
from tests.conftest import (
    STORES,
    TAXII,
    LiveServer,
    cli_json,
    free_port,
    fresh_database,
    indicator,
    run_cli,
)


@pytest.fixture(params=STORES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def server(db_url: str) -> Iterator[LiveServer]:
    live = LiveServer(
        Settings(
            db=db_url, port=free_port(), max_content_length=256 * 1024, anonymous_delay_seconds=0
        )
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


def _inclusion(server: LiveServer, token: str, obj: dict[str, Any], size: int) -> int:
    params = {"id": obj["id"], "version": obj["modified"], "tree_size": str(size)}
    return get(server, "log/inclusion/", token, params=params).status_code


def test_purge_removes_what_is_past_its_period_from_every_path(
    server: LiveServer, make_member: Any, db_url: str, tmp_path: Path
) -> None:
    author, reader = make_member(), make_member()
    short = make_member(name="Short-Lived")
    green = author.sign(indicator("green"))
    marking, amber = restricted(author, [f"member:{reader.identity}"])
    past = datetime.now(UTC) - timedelta(days=2)
    expired = author.sign(
        indicator("clear", valid_from=ts(past), valid_until=ts(past + timedelta(days=1)))
    )
    current = author.sign(
        indicator("clear", valid_until=ts(datetime.now(UTC) + timedelta(days=30)))
    )
    theirs = short.sign(indicator("clear"))
    post_objects(server, author.token, [green, marking, amber, expired, current])
    post_objects(server, short.token, [theirs])
    anonymous = author.sign(indicator("green"))
    sealed = requests.post(
        server.api_root + "collections/bulletins/objects/?anonymous=true",
        data=json.dumps({"objects": [anonymous]}),
        headers={"Content-Type": TAXII, "Accept": TAXII, "Authorization": f"Bearer {author.token}"},
        timeout=30,
    ).json()
    copy_id = sealed["successes"][0]["message"].split(" as ", 1)[1].split(" ", 1)[0]
    assert get(server, "collections/bulletins/objects/", reader.token).status_code == 200
    head = get(server, "log/", reader.token).json()
    assert _inclusion(server, reader.token, green, head["tree_size"]) == 200

    config = tmp_path / "retention.toml"
    config.write_text(
        "[retention]\nindicator_days_after_valid_until = 0\n"
        '[retention.tlp_days]\ngreen = 0\n[retention.member_days]\n"Short-Lived" = 0\n'
    )
    gone = {green["id"], expired["id"], theirs["id"], copy_id}
    kept = {amber["id"], current["id"], marking["id"]}
    dry = cli_json("admin", "purge", "--dry-run", "--config", str(config), "--db", db_url)
    assert dry["dry_run"] is True and dry["purged"]["versions"] == 0
    listed = {v["id"]: v["expired"] for v in dry["versions"]}
    assert set(listed) == gone, listed
    assert listed[expired["id"]] == "indicator: 0 days after valid_until"
    assert listed[green["id"]] == "tlp green: 0 days"
    assert listed[theirs["id"]] == "member: 0 days"
    assert every_path(server, reader.token, green["id"])["objects:all"]  # nothing removed yet

    done = cli_json("admin", "purge", "--config", str(config), "--db", db_url)
    assert done["purged"]["versions"] == 4 and done["purged"]["sealed"] == 1
    for stix_id in gone:
        for who in (reader, author, short):
            assert not any(every_path(server, who.token, stix_id).values()), stix_id
        code, _, err = run_cli("admin", "deliveries", stix_id, "--db", db_url)
        assert code == 1 and "no object" in err
    assert get(server, "deliveries/", author.token, params={"id": green["id"]}).status_code == 404
    # the ledger forgot them too (the reader's export lists what it was delivered)
    out = tmp_path / "reader.json"
    cli_json("admin", "export", reader.id, "--out", str(out), "--db", db_url)
    received = {d["stix_id"] for d in json.loads(out.read_text())["deliveries_received"]}
    assert not received & gone
    for stix_id in kept:
        assert every_path(server, reader.token, stix_id)["objects:all"], stix_id
    # the member identities and the exchange's own objects are kept
    ids = {o["id"] for o in get(server, "collections/bulletins/objects/", reader.token).json()[
        "objects"]}  # fmt: skip
    assert {author.identity, reader.identity, short.identity} <= ids
    assert cli_json("admin", "sealed", "list", "--db", db_url)["sealed"] == []
    # the log keeps every leaf (its hash): same head, proofs of what is kept still hold
    after = get(server, "log/", reader.token).json()
    assert after["tree_size"] >= head["tree_size"]
    proof = get(
        server,
        "log/consistency/",
        reader.token,
        params={"first": str(head["tree_size"]), "second": str(after["tree_size"])},
    )
    assert proof.status_code == 200
    assert _inclusion(server, reader.token, green, head["tree_size"]) == 404
    assert _inclusion(server, reader.token, amber, head["tree_size"]) == 200
    assert cli_json("admin", "check", "--db", db_url)["ok"] is True
    # nothing is left to purge; the purge is audited
    again = cli_json("admin", "purge", "--config", str(config), "--db", db_url)
    assert again["versions"] == [] and again["purged"]["versions"] == 0
    actions = [e["action"] for e in cli_json("admin", "audit", "--db", db_url)["entries"]]
    assert actions.count("purge") == 3
