"""``exchange.client``: the members' Python API (``sign``, ``publish``) with stix2 objects and
dicts against a live server; and the stix2 sink pitfall it exists for."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import stix2

from exchange.client import PublishRefused, publish, sign
from exchange.crypto import VerifyKey, signature_block, verify_object_signature
from exchange.errors import ExchangeError, NotAuthenticated
from tests.api.conftest import collection, get, post_objects
from tests.conftest import TLP, LiveServer, indicator

if TYPE_CHECKING:
    from tests.conftest import TestMember

OBJECTS = "collections/bulletins/objects/"


@pytest.fixture
def member(make_member: Any) -> TestMember:
    found: TestMember = make_member("CERT-API")
    return found


def served(server: LiveServer, token: str, stix_id: str) -> dict[str, Any]:
    response = get(server, OBJECTS + stix_id + "/", token)
    assert response.status_code == 200, response.text
    (obj,) = response.json()["objects"]
    assert isinstance(obj, dict)
    return obj


def verifies(server: LiveServer, token: str, obj: dict[str, Any]) -> None:
    keys = {k["key_id"]: k for k in get(server, "keys/", token).json()["keys"]}
    block = signature_block(obj)
    assert block is not None
    verify_object_signature(obj, VerifyKey.from_pem(keys[block["key_id"]]["public_key"]))


def test_publish_stix2_objects_and_dicts(server: LiveServer, member: TestMember) -> None:
    green = [TLP["green"]]
    ind = stix2.Indicator(
        pattern="[ipv4-addr:value = '198.51.100.7']", pattern_type="stix", object_marking_refs=green
    )  # no created_by_ref: claimed for the key
    addr = stix2.IPv4Address(value="198.51.100.7", object_marking_refs=green)
    rel = stix2.Relationship(
        ind, "related-to", addr, created_by_ref=member.identity, object_marking_refs=green
    )
    plain = indicator("green")
    status = publish([ind, addr, rel, plain], server.api_root, member.token, member.key_path)
    assert status["success_count"] == 4 and status["failure_count"] == 0
    for stix_id in (ind.id, addr.id, rel.id, plain["id"]):
        obj = served(server, member.token, stix_id)
        verifies(server, member.token, obj)
        stix2.parse(obj, allow_custom=False)
    assert served(server, member.token, ind.id)["created_by_ref"] == member.identity
    assert "created_by_ref" not in served(server, member.token, addr.id)
    # a stix2 Bundle, and the key as PEM bytes, work too
    bundle = stix2.Bundle(
        stix2.Indicator(
            pattern="[url:value = 'http://example.com/']",
            pattern_type="stix",
            object_marking_refs=green,
        )
    )
    again = publish(bundle, server.api_root, member.token, member.key_path.read_bytes())
    assert again["success_count"] == 1


def test_sign_then_post_as_is(server: LiveServer, member: TestMember) -> None:
    ind = stix2.Indicator(
        pattern="[domain-name:value = 'example.org']",
        pattern_type="stix",
        object_marking_refs=[TLP["green"]],
    )
    signed = sign(ind, member.key, author=member.identity)
    assert signed["created_by_ref"] == member.identity and signed["pattern_version"] == "2.1"
    observable = sign(
        stix2.DomainName(value="example.org", object_marking_refs=[TLP["green"]]),
        member.key_path,
        author=member.identity,
    )
    assert "created_by_ref" not in observable
    status = post_objects(server, member.token, [signed, observable])
    assert status["success_count"] == 2
    assert served(server, member.token, signed["id"]) == signed
    # sign() leaves its input alone
    assert "extensions" not in json.loads(ind.serialize())


def test_publish_raises_on_refusals(server: LiveServer, member: TestMember) -> None:
    good = indicator("green")
    amber = indicator("amber")  # no audience marking: refused
    with pytest.raises(PublishRefused) as refused:
        publish([good, amber], server.api_root, member.token, member.key)
    status = refused.value.status
    assert status["success_count"] == 1 and status["failure_count"] == 1
    assert status["failures"][0]["id"] == amber["id"]
    assert amber["id"] in refused.value.message and "[" in refused.value.message
    assert served(server, member.token, good["id"])["id"] == good["id"]  # the rest is stored


def test_publish_errors(server: LiveServer, member: TestMember, make_member: Any) -> None:
    with pytest.raises(NotAuthenticated):
        publish([indicator("green")], server.api_root, "exk_wrong", member.key)
    with pytest.raises(ExchangeError):
        publish([{"no": "type"}], server.api_root, member.token, member.key)
    with pytest.raises(ExchangeError):
        publish([indicator("green")], server.api_root, member.token, "/nonexistent/key.pem")
    other = make_member("CERT-OTHER-KEY")
    unregistered = stix2.Indicator(
        pattern="[url:value = 'http://x.example/']",
        pattern_type="stix",
        object_marking_refs=[TLP["green"]],
    )
    with pytest.raises(ExchangeError):
        # a key whose owner is not the token's member: its objects are the other's, and
        # relaying an unsigned object of theirs is refused
        publish(
            [dict(json.loads(unregistered.serialize()), created_by_ref=other.identity)],
            server.api_root,
            member.token,
            member.key,
        )


def test_the_stix2_sink_pitfall(server: LiveServer, member: TestMember) -> None:
    """Why exchange.client exists: stix2's TAXIICollectionSink re-parses what it is given
    (adding pattern_version), so a signed dict no longer verifies, and it ignores the
    refusal in the status resource."""
    signed = member.sign(indicator("green"))  # no pattern_version
    sink = stix2.TAXIICollectionSink(collection(server, member.token), allow_custom=True)
    assert sink.add(signed) is None  # no error, no status
    assert get(server, OBJECTS + signed["id"] + "/", member.token).status_code == 404
