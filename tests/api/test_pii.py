"""PII screening on ingest (docs/privacy.md), through HTTP on SQLite and PostgreSQL: each
finding refuses the object naming the field, the allow-list and the author's "intended"
mark let it through, and the review queue holds it until an administrator decides."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from exchange.config import Settings
from exchange.crypto import sign_object
from tests.api.conftest import failures, get, post_objects
from tests.api.test_sharing_leaks import every_path
from tests.conftest import (
    STORES,
    TLP,
    LiveServer,
    cli_json,
    free_port,
    fresh_database,
    indicator,
    run_cli,
)

INTENDED = "extension-definition--96bde4db-0e76-40fa-a947-62696de3c661"


@pytest.fixture(params=STORES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def server(db_url: str) -> Iterator[LiveServer]:
    live = LiveServer(
        Settings(
            db=db_url,
            port=free_port(),
            max_content_length=256 * 1024,
            anonymous_delay_seconds=0,
            pii_patterns={"employee-id": r"\bEMP-\d{6}\b"},
            pii_allow_fields=["x_reporter_contact"],
        )
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


FINDINGS = {
    "email": {"description": "Phished from jane.doe@example.org last week"},
    "phone": {"description": "The caller used +49 30 1234 5678"},
    "iban": {"description": "Money went to DE89 3704 0044 0532 0130 00"},
    "card": {"name": "Card 4111 1111 1111 1111 tested"},
    "name": {"description": "Reported by Dr. Alice Smith of the utility"},
    "employee-id": {"description": "Insider EMP-123456 exfiltrated data"},
    "nested": {
        "external_references": [
            {"source_name": "ticket", "description": "reporter: bob@example.net"}
        ]
    },
}


def test_each_finding_is_refused_naming_its_field(server: LiveServer, make_member: Any) -> None:
    author = make_member()
    objects = {kind: author.sign(indicator("green", **props)) for kind, props in FINDINGS.items()}
    status = post_objects(server, author.token, list(objects.values()))
    got = failures(status)
    assert status["success_count"] == 0, status
    for kind, obj in objects.items():
        message = got[obj["id"]]
        assert message.startswith("[pii-found] personal data found: "), message
        field = next(iter(FINDINGS[kind]))
        assert f" in {field}" in message, message
    assert "an e-mail address in description" in got[objects["email"]["id"]]
    assert "pattern 'employee-id' in description" in got[objects["employee-id"]["id"]]
    assert "in external_references[0].description" in got[objects["nested"]["id"]]


def test_the_allow_list_and_the_intended_mark_let_data_through(
    server: LiveServer, make_member: Any
) -> None:
    author, reader = make_member(), make_member()
    # the indicator is the address: its pattern is not free text; nor is an observable
    address = author.sign(indicator("green", pattern="[email-addr:value = 'phisher@example.org']"))
    observable = sign_object(
        {"type": "email-addr", "spec_version": "2.1", "id": f"email-addr--{uuid.uuid4()}",
         "value": "phisher@example.org", "object_marking_refs": [TLP["green"]]},
        author.key,
    )  # fmt: skip
    configured = author.sign(indicator("green", x_reporter_contact="soc@example.org"))
    intended = author.sign(
        indicator(
            "green",
            description="Sender: phisher@example.org",
            extensions={
                INTENDED: {"extension_type": "property-extension", "fields": ["description"]}
            },
        )
    )
    elsewhere = author.sign(
        indicator(
            "green",
            description="Sender: phisher@example.org",
            extensions={INTENDED: {"extension_type": "property-extension", "fields": ["name"]}},
        )
    )
    clean = author.sign(indicator("green", description="Ports 80 443 8080; CVE-2024-12345"))
    status = post_objects(
        server, author.token, [address, observable, configured, intended, elsewhere, clean]
    )
    assert failures(status).keys() == {elsewhere["id"]}, status
    served = get(server, "collections/bulletins/objects/", reader.token).json()["objects"]
    assert {address["id"], intended["id"], clean["id"]} <= {o["id"] for o in served}


def test_the_review_queue_holds_until_an_administrator_decides(
    server: LiveServer, make_member: Any, db_url: str
) -> None:
    author, reader = make_member(), make_member()
    cli_json("admin", "rules", "submission", author.id, "review", "--db", db_url)
    held = author.sign(indicator("green", description="Contact jane.doe@example.org"))
    other = author.sign(indicator("green", description="Call +44 20 7946 0958"))
    clean = author.sign(indicator("green"))
    status = post_objects_pending(server, author.token, [held, other, clean])
    assert status["status"] == "pending" and status["pending_count"] == 2
    assert status["success_count"] == 1 and status["successes"][0]["id"] == clean["id"]
    assert all(p["message"].startswith("held for review: ") for p in status["pendings"])
    for obj in (held, other):  # held: on no path, for anyone, not even its author
        for who in (reader, author):
            assert not any(every_path(server, who.token, obj["id"]).values())

    items = cli_json("admin", "review", "list", "--db", db_url)["items"]
    assert {i["id"] for i in items} == {held["id"], other["id"]}
    assert all(i["member"] == author.id for i in items)
    by_id = {i["id"]: i["review_id"] for i in items}
    done = cli_json("admin", "review", "approve", by_id[held["id"]], "--db", db_url)
    assert done["state"] == "approved" and done["stored"] is True
    cli_json("admin", "review", "reject", by_id[other["id"]], "--reason", "no", "--db", db_url)
    assert cli_json("admin", "review", "list", "--db", db_url)["items"] == []
    assert len(cli_json("admin", "review", "list", "--all", "--db", db_url)["items"]) == 2

    ids = {o["id"] for o in get(server, "collections/bulletins/objects/", reader.token).json()[
        "objects"
    ]}  # fmt: skip
    assert held["id"] in ids and other["id"] not in ids
    final = get(server, f"status/{status['id']}/", author.token).json()
    assert final["status"] == "complete" and final["pending_count"] == 0
    assert {s["id"] for s in final["successes"]} == {clean["id"], held["id"]}
    assert failures(final)[other["id"]] == "[pii-found] rejected on review: no"
    # a decided item is not decided again; each decision is audited
    code, _, err = run_cli("admin", "review", "approve", by_id[other["id"]], "--db", db_url)
    assert code == 1 and "rejected already" in err
    actions = [e["action"] for e in cli_json("admin", "audit", "--db", db_url)["entries"]]
    assert "review approve" in actions and "review reject" in actions

    # an anonymous post is never held: the copy would carry the data
    anonymous = author.sign(indicator("green", description="Contact jane.doe@example.org"))
    resp = post_objects_pending(server, author.token, [anonymous], "?anonymous=true")
    assert failures(resp)[anonymous["id"]].startswith("[pii-found]")


def post_objects_pending(
    server: LiveServer, token: str, objects: list[dict[str, Any]], query: str = ""
) -> dict[str, Any]:
    response = requests.post(
        server.api_root + "collections/bulletins/objects/" + query,
        data=json.dumps({"objects": objects}),
        headers={
            "Content-Type": "application/taxii+json;version=2.1",
            "Accept": "application/taxii+json;version=2.1",
            "Authorization": f"Bearer {token}",
        },
        timeout=30,
    )
    assert response.status_code == 202, response.text
    status: dict[str, Any] = response.json()
    return status
