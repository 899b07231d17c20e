"""The signing rules through HTTP: each refused object with its own reason, the rest stored;
objects served byte-for-byte as posted; every served object verifies against the key
directory; the shared signing vectors refused cleanly."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from exchange.crypto import (
    SIGNATURE_EXTENSION_ID,
    SigningKey,
    VerifyKey,
    b64url_encode,
    sign_object,
    signature_block,
    verify_object_signature,
)
from exchange.schemas import definitions_text
from tests.api.conftest import (
    MAX_CONTENT_LENGTH,
    assert_taxii_error,
    collection,
    failures,
    get,
    parse,
    post_objects,
    post_raw,
    successes,
    ts,
    valid_objects,
)
from tests.conftest import TAXII, LiveServer, cli_json, indicator

if TYPE_CHECKING:
    from tests.conftest import TestMember

OBJECTS = "collections/bulletins/objects/"
VECTOR_AUTHOR = "identity--0f4f7e9a-5b4b-4c8e-9a57-6a1f2d3c4b5a"


def unsigned(member: TestMember, **props: Any) -> dict[str, Any]:
    return dict(indicator(**props), created_by_ref=member.identity)


def block(obj: dict[str, Any]) -> dict[str, Any]:
    found = signature_block(obj)
    assert found is not None
    return found


def readable(server: LiveServer, token: str, stix_id: str) -> bool:
    response = get(server, OBJECTS + stix_id + "/", token)
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def test_each_refusal_has_its_own_reason(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    good_first, good_last = a.sign(indicator()), a.sign(indicator())

    tampered = a.sign(indicator())
    tampered["name"] = "changed after signing"

    non_canonical = unsigned(a)
    raw = a.key.sign(json.dumps(non_canonical, sort_keys=True, indent=1).encode("utf-8"))
    non_canonical["extensions"] = {
        SIGNATURE_EXTENSION_ID: {
            "extension_type": "property-extension",
            "alg": "Ed25519",
            "key_id": a.key.public.key_id,
            "signature": b64url_encode(raw),
        }
    }

    unknown_key = a.sign(indicator())
    block(unknown_key)["key_id"] = "0" * 64

    others_key = sign_object(unsigned(a), b.key)
    others_identity = sign_object(unsigned(b), a.key)
    stranger = sign_object(dict(indicator(), created_by_ref=f"identity--{uuid.uuid4()}"), a.key)
    no_author = sign_object(indicator(), a.key)
    missing = unsigned(a)
    bad_base64 = a.sign(indicator())
    block(bad_base64)["signature"] = "not*base64url!"
    padded = a.sign(indicator())
    block(padded)["signature"] += "=="
    # Strings that plain base64 decoders map onto the genuine signature bytes: a stray
    # character, or different spare bits in the last character.
    stray = a.sign(indicator())
    block(stray)["signature"] = (
        block(stray)["signature"][:40] + "*" + block(stray)["signature"][40:]
    )
    spare_bits = a.sign(indicator())
    sig = block(spare_bits)["signature"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    block(spare_bits)["signature"] = sig[:-1] + alphabet[alphabet.index(sig[-1]) ^ 1]
    short = a.sign(indicator())
    block(short)["signature"] = b64url_encode(b"\x01" * 32)
    other_alg = a.sign(indicator())
    block(other_alg)["alg"] = "RS256"
    invalid_stix = a.sign({k: v for k, v in indicator().items() if k != "pattern_type"})

    expected = {
        tampered["id"]: "bad signature",
        non_canonical["id"]: "bad signature",
        unknown_key["id"]: "unknown key",
        others_key["id"]: "is not a key of",
        others_identity["id"]: "is not a key of",
        stranger["id"]: "is not a key of",
        no_author["id"]: "created_by_ref",
        missing["id"]: "unsigned",
        bad_base64["id"]: "base64url",
        padded["id"]: "base64url",
        stray["id"]: "base64url",
        spare_bits["id"]: "base64url",
        short["id"]: "64 bytes",
        other_alg["id"]: "algorithm",
        invalid_stix["id"]: "invalid STIX",
    }
    envelope = [
        good_first,
        tampered,
        non_canonical,
        unknown_key,
        others_key,
        others_identity,
        stranger,
        no_author,
        missing,
        bad_base64,
        padded,
        stray,
        spare_bits,
        short,
        other_alg,
        invalid_stix,
        good_last,
    ]
    status = post_objects(server, a.token, envelope)

    assert status["success_count"] == 2
    assert successes(status) == {good_first["id"], good_last["id"]}
    assert status["failure_count"] == len(expected)
    refused = failures(status)
    assert set(refused) == set(expected)
    for stix_id, phrase in expected.items():
        assert phrase in refused[stix_id], (phrase, refused[stix_id])
    # Each failure names the version it refused.
    versions = {f["id"]: f.get("version") for f in status["failures"]}
    assert versions[tampered["id"]] == tampered["modified"]

    assert readable(server, b.token, good_first["id"])
    assert readable(server, b.token, good_last["id"])
    for stix_id in expected:
        assert not readable(server, a.token, stix_id)


def test_revoked_key(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    before = member.sign(indicator())
    revoked = cli_json("admin", "key", "revoke", member.key.public.key_id, "--db", member.db)
    since = parse(revoked["revoked_since"])

    after = member.sign(indicator(modified=ts(since + timedelta(milliseconds=5))))
    status = post_objects(server, member.token, [before, after])
    assert successes(status) == {before["id"]}
    assert "revoked" in failures(status)[after["id"]]

    keys = {k["key_id"]: k for k in get(server, "keys/", member.token).json()["keys"]}
    assert keys[member.key.public.key_id]["revoked_since"] == revoked["revoked_since"]


def test_key_revoked_from_a_future_time(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    since = ts(parse(indicator()["created"]) + timedelta(hours=1))
    out = cli_json(
        "admin", "key", "revoke", member.key.public.key_id, "--since", since, "--db", member.db
    )
    assert parse(out["revoked_since"]) == parse(since)

    now_obj = member.sign(indicator())
    just_before = member.sign(indicator(modified=ts(parse(since) - timedelta(milliseconds=1))))
    at = member.sign(indicator(modified=since))
    late = member.sign(indicator(modified=ts(parse(since) + timedelta(hours=1))))
    status = post_objects(server, member.token, [now_obj, just_before, at, late])
    assert successes(status) == {now_obj["id"], just_before["id"]}
    assert "revoked" in failures(status)[at["id"]]
    assert "revoked" in failures(status)[late["id"]]


def test_key_validity_window(server: LiveServer, make_member: Any, tmp_path: Path) -> None:
    member = make_member()
    short_path = tmp_path / "short.pem"
    key = cli_json(
        "admin",
        "key",
        "generate",
        member.id,
        "--out",
        str(short_path),
        "--ttl",
        "1s",
        "--db",
        member.db,
    )
    not_before, not_after = parse(key["not_before"]), parse(key["not_after"])
    assert not_after - not_before == timedelta(seconds=1)
    short_key = SigningKey.from_pem(short_path.read_bytes())
    assert short_key.public.key_id == key["key_id"]

    def signed(at: datetime) -> dict[str, Any]:
        stamp = ts(at)
        return sign_object(
            unsigned(member, created=stamp, modified=stamp, valid_from=stamp), short_key
        )

    inside = signed(not_before + timedelta(milliseconds=2))
    too_early = signed(not_before - timedelta(days=1))
    expired = signed(not_after + timedelta(seconds=1))
    at_expiry = signed(not_after + timedelta(milliseconds=1))
    status = post_objects(server, member.token, [inside, too_early, expired, at_expiry])
    # Validity is judged at the object's modified time, not at the time of posting.
    assert successes(status) == {inside["id"]}
    refused = failures(status)
    assert "not valid before" in refused[too_early["id"]]
    assert "expired" in refused[expired["id"]]
    assert "expired" in refused[at_expiry["id"]]


def test_oversize_object_is_413(server: LiveServer, make_member: Any) -> None:
    member = make_member()
    huge = member.sign(indicator(description="x" * (MAX_CONTENT_LENGTH + 1)))
    response = post_raw(server, member.token, json.dumps({"objects": [huge]}))
    assert_taxii_error(response, 413)
    assert not readable(server, member.token, huge["id"])


def test_served_byte_for_byte(server: LiveServer, make_member: Any) -> None:
    member, reader = make_member(), make_member()
    obj = member.sign(
        indicator(
            "clear",
            name="Café C2 — ☃ 🔒",
            description='quote " backslash \\ tab \t slash a/b and 1e2',
            x_exchange_score=1.50,
        )
    )
    # Unusual but valid JSON: keys reversed, odd spacing, \u escapes, an escaped slash.
    text = json.dumps(
        dict(reversed(list(obj.items()))), indent=3, ensure_ascii=True, separators=(" ,", " :  ")
    )
    text = text.replace("a/b", "a\\/b")
    assert "\\u00e9" in text and "\\ud83d\\udd12" in text and "1.5" in text
    assert json.loads(text) == obj
    body = '{\n  "more" : false ,\n\t"objects" :[   ' + text + "\n ]  }\n"
    response = post_raw(server, member.token, body)
    assert response.status_code == 202, response.text
    assert response.json()["success_count"] == 1, response.text

    for path, token in (
        (OBJECTS + obj["id"] + "/", reader.token),
        (OBJECTS, reader.token),
        ("collections/public/objects/" + obj["id"] + "/", None),
        ("collections/public/objects/", None),
    ):
        served = get(server, path, token)
        assert served.status_code == 200
        assert text in served.content.decode("utf-8"), path
        [found] = [o for o in valid_objects(served.json()) if o["id"] == obj["id"]]
        assert found == obj

    key = VerifyKey.from_pem(
        next(
            k["public_key"]
            for k in get(server, "keys/", reader.token).json()["keys"]
            if k["key_id"] == member.key.public.key_id
        )
    )
    verify_object_signature(json.loads(text), key)


def test_every_served_object_verifies(server: LiveServer, make_member: Any) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B", economy="FR")
    post_objects(server, a.token, [a.sign(indicator()), a.sign(indicator("clear"))])
    post_objects(server, b.token, [b.sign(indicator("green"))])

    assert_taxii_error(get(server, "keys/"), 401)
    directory = get(server, "keys/", b.token)
    assert directory.status_code == 200
    assert directory.headers["Content-Type"] == TAXII
    keys = {k["key_id"]: k for k in directory.json()["keys"]}
    for entry in keys.values():
        assert set(entry) >= {
            "key_id",
            "member",
            "identity",
            "public_key",
            "not_before",
            "not_after",
            "revoked_since",
        }
        assert VerifyKey.from_pem(entry["public_key"]).key_id == entry["key_id"]
    assert keys[a.key.public.key_id]["member"] == a.id
    assert keys[a.key.public.key_id]["identity"] == a.identity

    served = valid_objects(get(server, OBJECTS, b.token).json())
    authors = set()
    definitions = json.loads(definitions_text())
    for obj in served:
        if obj["type"] == "extension-definition":
            # STIX 2.1 gives extension definitions no extensions: served unsigned, as shipped
            assert signature_block(obj) is None and obj in definitions
            continue
        entry = keys[block(obj)["key_id"]]
        assert entry["identity"] == obj["created_by_ref"]
        verify_object_signature(obj, VerifyKey.from_pem(entry["public_key"]))
        authors.add(obj["created_by_ref"])
    assert {a.identity, b.identity} < authors  # and the exchange's own objects


def test_shared_vectors_are_refused_cleanly(
    server: LiveServer, make_member: Any, tmp_path: Path, vectors: dict[str, Any]
) -> None:
    """The vector objects are by an identity that is no member here: the exchange refuses
    them one by one, saying whose key it is, even with the vector keys registered."""
    member = make_member("vector-holder")
    for index, key in enumerate(vectors["keys"]):
        pem = tmp_path / f"vector-{index}.pem"
        pem.write_text(key["public_pem"])
        added = cli_json(
            "admin", "key", "add", member.id, "--public-key", str(pem), "--db", member.db
        )
        assert added["key_id"] == key["key_id"]
        assert added["member"] == member.id

    valid = [v["object"] for v in vectors["valid"]]
    invalid = [v["object"] for v in vectors["invalid"]]
    # The vectors themselves are sound: each valid one verifies with its key.
    pems = {k["key_id"]: k["public_pem"] for k in vectors["keys"]}
    for v in vectors["valid"]:
        verify_object_signature(v["object"], VerifyKey.from_pem(pems[v["signed_by"]]))

    status = post_objects(server, member.token, copy.deepcopy(valid + invalid))
    assert status["success_count"] == 0
    refused = failures(status)
    assert set(refused) == {o["id"] for o in valid + invalid}
    for obj in valid:
        message = refused[obj["id"]]
        assert VECTOR_AUTHOR in message and "not a key of" in message, message
    assert all(message.strip() for message in refused.values())
    for obj in valid + invalid:
        assert not readable(server, member.token, obj["id"])


@pytest.mark.parametrize("tlp", ["clear", "green"])
def test_signature_survives_a_round_trip_through_the_client(
    server: LiveServer, make_member: Any, tlp: str
) -> None:
    member, reader = make_member(), make_member()
    obj = member.sign(indicator(tlp, name="Überwachung — ✓"))
    status = collection(server, member.token).add_objects({"objects": [obj]}, timeout=5)
    assert status.success_count == 1
    [served] = valid_objects(collection(server, reader.token).get_object(obj["id"]))
    verify_object_signature(served, member.key.public)
