"""An analyst's round trip: `exchange publish` a bulletin, another member reads it back and
`exchange verify` checks every signature against the key directory."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from taxii2client.v21 import Server, as_pages

from tests.conftest import TLP, LiveServer, indicator, relationship, run_cli, stamp


def bulletin() -> list[dict[str, Any]]:
    ind = indicator("green")
    ind.pop("created_by_ref", None)
    now = stamp()
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "name": "Loader",
        "is_family": True,
        "object_marking_refs": [TLP["green"]],
    }
    rel = relationship(ind["id"], malware["id"])
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "name": "Loader campaign against ministries",
        "description": "Indicators and the malware they point to.",
        "published": now,
        "report_types": ["threat-report"],
        "object_refs": [ind["id"], malware["id"], rel["id"]],
        "object_marking_refs": [TLP["green"]],
    }
    return [ind, malware, rel, report]


def read_all(server: LiveServer, token: str) -> list[dict[str, Any]]:
    root = Server(server.url + "/taxii2/", user="reader", password=token).api_roots[0]
    bulletins = next(c for c in root.collections if c.alias == "bulletins")
    out: list[dict[str, Any]] = []
    for page in as_pages(bulletins.get_objects, per_request=50):
        out.extend(page.get("objects", []))
    return out


def test_publish_then_verify_round_trip(
    server: LiveServer, make_member: Any, tmp_path: Path
) -> None:
    author, reader = make_member("CERT-A"), make_member("CERT-B", economy="FR")
    objects = bulletin()
    source = tmp_path / "bulletin.json"
    source.write_text(
        json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})
    )

    code, out, err = run_cli(
        "publish",
        str(source),
        "--url",
        server.api_root,
        "--token",
        author.token,
        "--key",
        str(author.key_path),
        "--json",
    )
    assert code == 0, err
    status = json.loads(out)
    assert status["status"] == "complete"
    assert status["success_count"] == len(objects)
    assert status["failure_count"] == 0

    served = [o for o in read_all(server, reader.token) if o["id"] in {x["id"] for x in objects}]
    assert len(served) == len(objects)
    assert all(o["created_by_ref"] == author.identity for o in served)
    fetched = tmp_path / "fetched.json"
    fetched.write_text(json.dumps({"objects": served}))

    code, out, err = run_cli(
        "verify", str(fetched), "--url", server.api_root, "--token", reader.token, "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert sorted(result["valid"]) == sorted(o["id"] for o in objects)
    assert result["invalid"] == []


def test_verify_reports_tampering(server: LiveServer, make_member: Any, tmp_path: Path) -> None:
    author = make_member()
    signed = author.sign(indicator("green"))
    tampered = dict(signed, name="something else")
    path = tmp_path / "objects.json"
    path.write_text(json.dumps({"objects": [signed, tampered]}))
    code, out, _ = run_cli(
        "verify", str(path), "--url", server.api_root, "--token", author.token, "--json"
    )
    assert code == 1
    result = json.loads(out)
    assert result["valid"] == [signed["id"]]
    assert len(result["invalid"]) == 1
    assert "signature" in result["invalid"][0]["reason"]


def test_exchange_own_objects_verify(server: LiveServer, make_member: Any, tmp_path: Path) -> None:
    member = make_member()
    own = [
        o
        for o in read_all(server, member.token)
        if o["type"] in ("identity", "extension-definition")
    ]
    assert {o["type"] for o in own} == {"identity", "extension-definition"}
    path = tmp_path / "own.json"
    path.write_text(json.dumps({"objects": own}))
    code, out, err = run_cli(
        "verify", str(path), "--url", server.api_root, "--token", member.token, "--json"
    )
    assert code == 0, out + err


def test_publish_reports_refusals_with_exit_1(
    server: LiveServer, make_member: Any, tmp_path: Path
) -> None:
    author = make_member()
    amber = indicator("amber")  # no audience marking: refused
    path = tmp_path / "amber.json"
    path.write_text(json.dumps({"objects": [amber, indicator("green")]}))
    code, out, _ = run_cli(
        "publish",
        str(path),
        "--url",
        server.api_root,
        "--token",
        author.token,
        "--key",
        str(author.key_path),
        "--json",
    )
    assert code == 1
    status = json.loads(out)
    assert status["success_count"] == 1
    assert status["failure_count"] == 1
    assert "audience" in status["failures"][0]["message"]


def test_publish_bad_file_is_one_line(server: LiveServer, make_member: Any, tmp_path: Path) -> None:
    author = make_member()
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    code, out, err = run_cli(
        "publish",
        str(path),
        "--url",
        server.api_root,
        "--token",
        author.token,
        "--key",
        str(author.key_path),
    )
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1


def test_publish_with_another_members_key_is_refused_unless_relay(
    server: LiveServer, make_member: Any, tmp_path: Path
) -> None:
    """One member's token and another member's key would store a relay in the key owner's
    name: refused with one line and nothing posted, unless --relay is given."""
    owner, poster = make_member("CERT-A"), make_member("CERT-B", economy="FR")
    ind = indicator("green")
    ind.pop("created_by_ref", None)
    source = tmp_path / "one.json"
    source.write_text(
        json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [ind]})
    )
    argv = ["publish", str(source), "--url", server.api_root, "--key", str(owner.key_path)]

    code, out, err = run_cli(*argv, "--token", poster.token)
    assert code == 1 and err.count("\n") == 1, err
    assert "--relay" in err and owner.identity in err and poster.identity in err
    assert not [o for o in read_all(server, owner.token) if o["id"] == ind["id"]]

    code, out, err = run_cli(*argv, "--token", poster.token, "--relay", "--json")
    assert code == 0, err
    assert json.loads(out)["success_count"] == 1
    stored = [o for o in read_all(server, owner.token) if o["id"] == ind["id"]]
    assert [o["created_by_ref"] for o in stored] == [owner.identity]

    # The token's own member needs no flag.
    code, _out, err = run_cli(*argv, "--token", owner.token, "--quiet")
    assert code == 0, err


def test_whoami_names_the_tokens_member(server: LiveServer, make_member: Any) -> None:
    import requests

    reader = make_member("CERT-R", read_only=True)
    answer = requests.get(
        server.api_root + "whoami/",
        headers={
            "Authorization": f"Bearer {reader.token}",
            "Accept": "application/taxii+json;version=2.1",
        },
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json() == {"member": reader.id, "identity": reader.identity, "scope": "read-only"}
    anonymous = requests.get(server.api_root + "whoami/", timeout=10)
    assert anonymous.status_code == 401
