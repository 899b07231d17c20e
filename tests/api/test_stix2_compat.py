"""stix2 compatibility: everything served parses with ``stix2.parse(allow_custom=False)``
(through stix2's TAXIICollectionSource over taxii2-client against a live server), what the
exchange creates passes stix2-validator in strict mode, extension definitions are served
unsigned and byte-identical to ``exchange/schemas/``, and cyber-observables without
``created_by_ref`` are authored by the owner of the signing key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
import stix2
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import as_pages

from exchange.crypto import sign_object, signature_block
from exchange.schemas import definitions_text
from exchange.taxii.envelope import split_array
from tests.api.conftest import (
    assert_taxii_error,
    collection,
    failures,
    get,
    objects_url,
    post_objects,
    successes,
)
from tests.conftest import (
    TAXII,
    TLP,
    LiveServer,
    audience_marking,
    indicator,
    relationship,
    run_cli,
)

if TYPE_CHECKING:
    from tests.conftest import TestMember

STRICT = ValidationOptions(version="2.1", strict=True)
OBJECTS = "collections/bulletins/objects/"


def sco(value: str, tlp: str = "green", **props: Any) -> dict[str, Any]:
    """A cyber-observable as stix2 makes it (deterministic id, no created_by_ref)."""
    props.setdefault("object_marking_refs", [TLP[tlp]])
    made = stix2.IPv4Address(value=value, **props)
    found: dict[str, Any] = json.loads(made.serialize())
    return found


def pull(server: LiveServer, token: str | None, alias: str = "bulletins") -> list[dict[str, Any]]:
    bulletins = collection(server, token, alias)
    return [
        o
        for page in as_pages(bulletins.get_objects, per_request=3)
        for o in page.get("objects", [])
    ]


@pytest.fixture
def world(server: LiveServer, make_member: Any) -> dict[str, Any]:
    a: TestMember = make_member("CERT-A")
    b: TestMember = make_member("Bank-B", kind="private", sector="financial-services", economy="FR")
    c: TestMember = make_member("Grid-C", kind="private", sector="energy", economy="NL")
    green = indicator("green")
    clear = indicator("clear")
    observable = sco("198.51.100.7")
    link = relationship(green["id"], observable["id"])
    marking = audience_marking([f"member:{b.identity}"])
    amber_sco = sco("203.0.113.9", "amber", object_marking_refs=[TLP["amber"], marking["id"]])
    objects = [a.sign(o) for o in (green, clear)]
    objects += [
        sign_object(observable, a.key),
        a.sign(link),
        a.sign(marking),
        sign_object(amber_sco, a.key),
    ]
    status = post_objects(server, a.token, objects)
    assert status["success_count"] == len(objects), status["failures"]
    return {
        "a": a,
        "b": b,
        "c": c,
        "observable": objects[2],
        "amber_sco": objects[5],
        "objects": objects,
    }


def test_taxii_collection_source_full_pull_allow_custom_false(
    server: LiveServer, world: dict[str, Any]
) -> None:
    for member in (world["a"], world["b"], world["c"]):
        bulletins = collection(server, member.token)
        source = stix2.TAXIICollectionSource(bulletins, allow_custom=False, items_per_page=3)
        parsed = source.query([])
        raw = pull(server, member.token)
        assert sorted(o.id for o in parsed) == sorted(o["id"] for o in raw)
        for obj in raw:
            stix2.parse(obj, allow_custom=False)
        types = {o["type"] for o in raw}
        assert {
            "identity",
            "extension-definition",
            "indicator",
            "ipv4-addr",
            "relationship",
        } <= types
    anonymous = stix2.TAXIICollectionSource(
        collection(server, None, "public"), allow_custom=False, items_per_page=2
    )
    assert {o.type for o in anonymous.query([])} >= {"extension-definition", "identity"}


def test_what_the_exchange_creates_passes_strict_validation(
    server: LiveServer, world: dict[str, Any]
) -> None:
    member_identities = {world[k].identity for k in ("a", "b", "c")}
    served = pull(server, world["b"].token)
    own = [o for o in served if o["type"] in ("identity", "extension-definition")]
    assert member_identities <= {o["id"] for o in own}
    # signature, audience, anonymised copy, intended personal data
    assert len([o for o in own if o["type"] == "extension-definition"]) == 4
    for obj in own:
        result = validate_instance(obj, STRICT)
        assert result.is_valid, (obj["id"], [str(e) for e in result.errors])
    sectors = {o["id"]: o.get("sectors") for o in own if o["id"] in member_identities}
    assert sectors[world["b"].identity] == ["financial-services"]
    assert sectors[world["c"].identity] == ["energy"]


def test_extension_definitions_are_served_as_shipped(
    server: LiveServer, world: dict[str, Any]
) -> None:
    shipped = split_array(definitions_text())
    assert len(shipped) == 4  # signature, audience, anonymised copy, intended PII
    project_file = Path(__file__).resolve().parents[2] / "schemas" / "extension-definitions.json"
    assert project_file.read_text("utf-8") == definitions_text()
    for token, alias in ((world["a"].token, "bulletins"), (None, "public")):
        response = get(
            server,
            f"collections/{alias}/objects/",
            token,
            params={"match[type]": "extension-definition"},
        )
        assert response.status_code == 200
        for raw in shipped:
            assert raw.text in response.text  # byte for byte, indentation and all
            assert signature_block(raw.value) is None
        one = get(server, f"collections/{alias}/objects/{shipped[0].value['id']}/", token)
        assert one.text == '{"more":false,"objects":[' + shipped[0].text + "]}"
        versions = get(
            server, f"collections/{alias}/objects/{shipped[0].value['id']}/versions/", token
        ).json()["versions"]
        assert versions == [shipped[0].value["modified"]]


def test_observables_without_created_by_ref(server: LiveServer, world: dict[str, Any]) -> None:
    a, b, c = world["a"], world["b"], world["c"]
    observable, amber = world["observable"], world["amber_sco"]
    assert "created_by_ref" not in observable
    # GREEN: every member reads it; AMBER: the audience the key's owner chose, and the author
    assert observable["id"] in {o["id"] for o in pull(server, c.token)}
    assert amber["id"] in {o["id"] for o in pull(server, b.token)}
    assert amber["id"] in {o["id"] for o in pull(server, a.token)}
    assert amber["id"] not in {o["id"] for o in pull(server, c.token)}
    assert get(server, OBJECTS + amber["id"] + "/", c.token).status_code == 404

    # the key's owner is the author: others may not delete it, the author may
    headers = {"Accept": TAXII, "Authorization": f"Bearer {b.token}"}
    response = requests.delete(
        objects_url(server) + observable["id"] + "/", headers=headers, timeout=30
    )
    assert_taxii_error(response, 403)
    headers["Authorization"] = f"Bearer {a.token}"
    response = requests.delete(
        objects_url(server) + observable["id"] + "/", headers=headers, timeout=30
    )
    assert response.status_code == 200
    assert get(server, OBJECTS + observable["id"] + "/", a.token).status_code == 404


def test_observable_refusals(server: LiveServer, world: dict[str, Any]) -> None:
    a, b = world["a"], world["b"]
    claimed = a.sign(dict(sco("192.0.2.1"), created_by_ref=a.identity))
    unsigned = sco("192.0.2.2")
    # someone else's audience marking on an observable signed by a: refused
    foreign_marking = b.sign(audience_marking([f"member:{a.identity}"]))
    post_objects(server, b.token, [foreign_marking])
    foreign = sign_object(
        sco("192.0.2.3", "amber", object_marking_refs=[TLP["amber"], foreign_marking["id"]]),
        a.key,
    )
    # an observable b signed and posts: b's; relayed by a as GREEN is allowed
    relayed = sign_object(sco("192.0.2.4"), b.key)
    status = post_objects(server, a.token, [claimed, unsigned, foreign, relayed])
    refused = failures(status)
    assert refused[claimed["id"]].startswith("[observable-author]")
    assert refused[unsigned["id"]].startswith("[unsigned]")
    assert refused[foreign["id"]].startswith("[audience-foreign]")
    assert successes(status) == {relayed["id"]}
    # the same id is b's now: a cannot publish its own object under it
    again = sign_object(dict(sco("192.0.2.4"), defanged=True), a.key)
    assert failures(post_objects(server, a.token, [again]))[again["id"]].startswith("[id-taken]")


def test_member_add_refuses_other_sectors(db_url: str) -> None:
    for sector in ("finance", "Government", "telecom", "", "x" * 100):
        code, out, err = run_cli(
            "admin",
            "member",
            "add",
            "--db",
            db_url,
            "--name",
            "X",
            "--kind",
            "private",
            "--sector",
            sector,
            "--economy",
            "DE",
        )
        assert code == 1, (sector, out, err)
        assert out == "" and len(err.strip().splitlines()) == 1
        assert "industry-sector-ov" in err
    code, out, _ = run_cli(
        "admin",
        "member",
        "add",
        "--db",
        db_url,
        "--name",
        "X",
        "--kind",
        "private",
        "--sector",
        "government-national",
        "--economy",
        "DE",
        "--json",
    )
    assert code == 0 and json.loads(out)["sector"] == "government-national"
