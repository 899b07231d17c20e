"""Status failures: each names the object's id where it has one (else where the entry stood:
``objects[N]``) and always a ``version`` (the object's ``modified``, else ``created``, as
written where it is a timestamp; else the request's timestamp)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from taxii2client.v21 import Status

from tests.api.conftest import TAXII_TS, api_root, post_raw
from tests.conftest import LiveServer, indicator

if TYPE_CHECKING:
    from tests.conftest import TestMember


def test_every_failure_has_an_id_and_a_version(server: LiveServer, make_member: Any) -> None:
    member: TestMember = make_member("CERT-F")
    good = member.sign(indicator("green"))
    unsigned = indicator("green")
    no_times = member.sign(
        {k: v for k, v in indicator("green").items() if k not in ("created", "modified")}
    )
    bad_time = member.sign(indicator("green", modified="yesterday"))
    created_only = {k: v for k, v in indicator("green").items() if k != "modified"}
    wrong_spec = dict(indicator("green"), spec_version="2.0")
    bad_id = dict(indicator("green"), id="not-an-id")
    entries: list[Any] = [
        good,
        unsigned,
        no_times,
        bad_time,
        created_only,
        wrong_spec,
        bad_id,
        "a string",
        42,
        None,
        ["a", "list"],
        {"no": "id"},
        {"id": 7, "modified": 3},
        {"id": "x" * 1000},
    ]
    response = post_raw(server, member.token, json.dumps({"objects": entries}))
    assert response.status_code == 202, response.text
    body = response.json()
    status = Status(url=f"{server.api_root}status/{body['id']}/", conn=None, status_info=body)
    assert status.total_count == len(entries) and status.success_count == 1
    by_id = {f["id"]: f for f in body["failures"]}
    assert len(by_id) == len(entries) - 1
    for failure in body["failures"]:
        assert isinstance(failure["version"], str) and failure["version"], failure
        assert failure["message"].startswith("["), failure

    assert by_id[unsigned["id"]]["version"] == unsigned["modified"]
    assert by_id[created_only["id"]]["version"] == created_only["created"]
    assert by_id[wrong_spec["id"]]["version"] == wrong_spec["modified"]
    assert by_id["not-an-id"]["version"] == bad_id["modified"]
    # no usable version: the request's timestamp
    for sid in (
        no_times["id"],
        bad_time["id"],
        "objects[7]",
        "objects[8]",
        "objects[9]",
        "objects[10]",
        "objects[11]",
        "objects[12]",
        "objects[13]",
    ):
        assert by_id[sid]["version"] == body["request_timestamp"], sid
        assert TAXII_TS.match(by_id[sid]["version"])
    assert "unknown" not in by_id

    # the status resource says the same when fetched again, through taxii2-client
    fetched = api_root(server, member.token).get_status(body["id"])
    assert fetched.failures == body["failures"]
