"""`exchange admin explain OBJECT_ID MEMBER`: may the member read the object, and which rule
decided. Objects are posted through the publish pipeline in-process (no server needed); the
CLI runs through ``exchange.cli.main``."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING, Any

from exchange.config import Settings
from exchange.models import Status
from exchange.services.runtime import open_services
from tests.conftest import TLP, audience_marking, cli_json, indicator, relationship, run_cli, stamp

if TYPE_CHECKING:
    from tests.conftest import TestMember


def publish(member: TestMember, *objects: dict[str, Any]) -> Status:
    """Post signed objects as ``member`` through the real publish pipeline."""

    async def go() -> Status:
        services = await open_services(Settings(db=member.db))
        try:
            principal = await services.auth.for_member(member.id, can_write=True)
            body = json.dumps({"objects": list(objects)}).encode()
            return await services.publish.publish(principal, body)
        finally:
            await services.ledger.stop()
            await services.store.close()

    status = asyncio.run(go())
    assert status.failure_count == 0, status.failures
    return status


def explain(stix_id: str, member: TestMember) -> dict[str, Any]:
    result = cli_json("admin", "explain", stix_id, member.id, "--db", member.db)
    assert result["id"] == stix_id and result["member"] == member.id
    assert isinstance(result["allowed"], bool)
    assert isinstance(result["reason"], str) and result["reason"]
    return result


def verdict(stix_id: str, member: TestMember) -> tuple[bool, str]:
    result = explain(stix_id, member)
    return result["allowed"], result["rule"]


def malware(tlp: str = "green") -> dict[str, Any]:
    now = stamp()
    return {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "name": "Loader",
        "is_family": True,
        "object_marking_refs": [TLP[tlp]],
    }


def test_publisher_and_audience(make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    marking = a.sign(audience_marking([f"member:{b.identity}"]))
    amber = a.sign(indicator("amber", extra_markings=(marking["id"],)))
    green = a.sign(indicator("green"))
    publish(a, marking, amber, green)

    assert verdict(amber["id"], a) == (True, "publisher")
    assert verdict(amber["id"], b) == (True, "audience")
    denied = explain(amber["id"], c)
    assert (denied["allowed"], denied["rule"]) == (False, "audience")
    assert f"member:{b.identity}" in denied["reason"]
    assert verdict(green["id"], c) == (True, "audience")
    # the exchange's own objects: a member identity is GREEN, for every member
    assert verdict(b.identity, c) == (True, "audience")


def test_outbound_rule_decides_and_changes_show_at_once(make_member: Any) -> None:
    a = make_member("CERT-A", economy="DE")
    de, fr = make_member("BSI", economy="DE"), make_member("ANSSI", economy="FR")
    green = a.sign(indicator("green"))
    publish(a, green)
    assert verdict(green["id"], fr) == (True, "audience")

    rule = cli_json("admin", "rules", "outbound", a.id, "require", "economy:DE", "--db", a.db)
    assert verdict(green["id"], fr) == (False, f"outbound:{rule['rule_id']}")
    assert verdict(green["id"], de) == (True, "audience")
    assert verdict(green["id"], a) == (True, "publisher")  # never applied to the publisher

    deny = cli_json(
        "admin", "rules", "outbound", a.id, "deny", f"member:{de.identity}", "--db", a.db
    )
    assert verdict(green["id"], de) == (False, f"outbound:{deny['rule_id']}")

    cli_json("admin", "rules", "remove", rule["rule_id"], "--db", a.db)
    cli_json("admin", "rules", "remove", deny["rule_id"], "--db", a.db)
    assert verdict(green["id"], fr) == (True, "audience")
    assert verdict(green["id"], de) == (True, "audience")


def test_relationship_ends(make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    marking = a.sign(audience_marking([f"member:{b.identity}"]))
    secret = a.sign(indicator("amber", extra_markings=(marking["id"],)))
    family = a.sign(malware("green"))
    rel = a.sign(relationship(family["id"], secret["id"]))
    publish(a, marking, secret, family, rel)

    assert verdict(rel["id"], b) == (True, "audience")
    assert verdict(rel["id"], c) == (False, "ends")
    assert verdict(rel["id"], a) == (True, "publisher")


def test_marking_definition(make_member: Any) -> None:
    a, b, c = make_member("CERT-A"), make_member("CERT-B"), make_member("CERT-C")
    marking = a.sign(audience_marking([f"member:{b.identity}"]))
    publish(a, marking)
    assert verdict(marking["id"], a) == (True, "publisher")
    assert verdict(marking["id"], b) == (False, "marking")  # nothing references it yet

    publish(a, a.sign(indicator("amber", extra_markings=(marking["id"],))))
    assert verdict(marking["id"], b) == (True, "marking")
    assert verdict(marking["id"], c) == (False, "marking")


def test_inbound_filter_and_suspension(make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    family, ind = a.sign(malware("green")), a.sign(indicator("green"))
    publish(a, family, ind)
    rule = cli_json("admin", "rules", "inbound", b.id, "type", "indicator", "report", "--db", a.db)
    assert verdict(family["id"], b) == (False, f"inbound:{rule['rule_id']}")
    assert verdict(ind["id"], b) == (True, "audience")
    cli_json("admin", "rules", "remove", rule["rule_id"], "--db", a.db)
    assert verdict(family["id"], b) == (True, "audience")

    cli_json("admin", "member", "suspend", b.id, "--db", a.db)
    assert verdict(ind["id"], b) == (False, "suspended")


def test_human_output_and_errors(make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    ind = a.sign(indicator("green"))
    publish(a, ind)

    code, out, err = run_cli("admin", "explain", ind["id"], b.id, "--db", a.db)
    assert code == 0, err
    assert out.count("\n") == 1 and "may read" in out and "(audience)" in out

    unknown = f"indicator--{uuid.uuid4()}"
    code, out, err = run_cli("admin", "explain", unknown, b.id, "--db", a.db, "--json")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and unknown in err
    assert "Traceback" not in err

    code, out, err = run_cli(
        "admin", "explain", ind["id"], str(uuid.uuid4()), "--db", a.db, "--json"
    )
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1

    # One argument is MEMBER (the summary form): an object id there is no member.
    code, out, err = run_cli("admin", "explain", ind["id"], "--db", a.db, "--json")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "no member" in err

    code, out, err = run_cli("admin", "explain", "--db", a.db, "--json")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
