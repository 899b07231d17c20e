"""The analyst client's pure parts: reading files, batching, statuses, signing, verifying.

No server runs here: HTTP is replaced by an in-memory fake of ApiClient.request.
"""

from __future__ import annotations

import copy
import importlib
import io
import itertools
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from exchange import crypto
from exchange.client import (
    ApiClient,
    DirectoryKey,
    error_message,
    load_objects,
    objects_from_document,
    parse_document,
    parse_key_directory,
)
from exchange.client.verify import check_object, verify_file, verify_objects
from exchange.errors import ExchangeError, InvalidInput, PermissionDenied
from exchange.models import key_window_problem as key_refusal

# the module (``exchange.client.publish`` the attribute is the members' publish() function)
pub = importlib.import_module("exchange.client.publish")

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "assets" / "signing.json").read_text("utf-8")
)
MEMBER_IDENTITY = "identity--0f4f7e9a-5b4b-4c8e-9a57-6a1f2d3c4b5a"
OTHER_IDENTITY = "identity--11111111-2222-4333-8444-555555555555"
EXCHANGE_IDENTITY = "identity--00000000-0000-4000-8000-000000000000"
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _seed_key(index: int) -> crypto.SigningKey:
    return crypto.SigningKey.from_seed(bytes.fromhex(VECTORS["keys"][index]["seed_hex"]))


def _entry(
    key: crypto.SigningKey,
    identity: str = MEMBER_IDENTITY,
    *,
    member: str | None = "m-1",
    not_before: datetime = T0,
    not_after: datetime | None = None,
    revoked_since: datetime | None = None,
) -> DirectoryKey:
    return DirectoryKey(
        key_id=key.public.key_id,
        member=member,
        identity=identity,
        public_key=key.public.pem(),
        not_before=not_before,
        not_after=not_after,
        revoked_since=revoked_since,
    )


def _indicator(n: int, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": "2026-01-02T03:04:05.678Z",
        "modified": "2026-01-02T03:04:05.678Z",
        "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix",
        "valid_from": "2026-01-02T03:04:05.678Z",
        "object_marking_refs": [TLP_GREEN],
    }
    obj.update(extra)
    return obj


# --- reading files --------------------------------------------------------------------------


def test_bundle_envelope_list_and_single_object() -> None:
    objs = [_indicator(1), _indicator(2)]
    bundle = {"type": "bundle", "id": "bundle--1", "objects": objs}
    assert objects_from_document(bundle) == objs
    assert objects_from_document({"objects": objs, "more": False}) == objs
    assert objects_from_document(objs) == objs
    assert objects_from_document(objs[0]) == [objs[0]]
    assert objects_from_document({"type": "bundle", "id": "bundle--2"}) == []


@pytest.mark.parametrize(
    "document",
    [
        "text",
        42,
        {"something": "else"},
        {"objects": {"not": "a list"}},
        {"objects": [{"type": "indicator"}]},
        {"objects": ["indicator--1"]},
        {"type": "bundle", "objects": [{"id": "x--1"}]},
    ],
)
def test_not_stix_is_refused(document: Any) -> None:
    with pytest.raises(InvalidInput):
        objects_from_document(document)


def test_strict_json() -> None:
    assert parse_document('{"a": 1}') == {"a": 1}
    with pytest.raises(InvalidInput, match="duplicate JSON key"):
        parse_document('{"a": 1, "a": 2}')
    with pytest.raises(InvalidInput, match="NaN"):
        parse_document('{"a": NaN}')
    with pytest.raises(InvalidInput, match="not JSON"):
        parse_document("{")


def test_load_objects(tmp_path: Path) -> None:
    objs = [_indicator(1)]
    good = tmp_path / "bundle.json"
    good.write_bytes(b"\xef\xbb\xbf" + json.dumps({"type": "bundle", "objects": objs}).encode())
    assert load_objects(good) == objs
    with pytest.raises(InvalidInput, match="cannot read"):
        load_objects(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"bad\.json: not JSON"):
        load_objects(bad)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"objects": ["\xe9"]}')
    with pytest.raises(InvalidInput, match="not UTF-8"):
        load_objects(latin)


# --- batching -------------------------------------------------------------------------------


def _sizes(batches: list[list[dict[str, Any]]]) -> list[int]:
    return [len(pub.envelope_bytes([pub.encode_object(o) for o in b])) for b in batches]


def test_envelope_bytes_are_json() -> None:
    objs = [_indicator(1), _indicator(2, name="été 🔒")]
    body = pub.envelope_bytes([pub.encode_object(o) for o in objs])
    assert json.loads(body) == {"objects": objs}
    assert pub.envelope_bytes([]) == b'{"objects":[]}'


@pytest.mark.parametrize("limit", [700, 1000, 1500, 5000, 100_000])
def test_batches_stay_under_the_limit_and_keep_order(limit: int) -> None:
    objs = [_indicator(n, name="x" * (n * 37 % 200)) for n in range(40)]
    batches = pub.plan_batches(objs, limit)
    assert [o for b in batches for o in b] == objs
    assert all(b for b in batches)
    assert max(_sizes(batches)) <= limit
    # Greedy: no batch could have taken the next batch's first object.
    for this, following in itertools.pairwise(batches):
        assert _sizes([[*this, following[0]]])[0] > limit


def test_batch_exact_fit() -> None:
    objs = [_indicator(1), _indicator(2)]
    exact = _sizes([objs])[0]
    assert pub.plan_batches(objs, exact) == [objs]
    assert pub.plan_batches(objs, exact - 1) == [[objs[0]], [objs[1]]]
    assert pub.plan_batches([], 100) == []


def test_object_too_large_for_one_request() -> None:
    with pytest.raises(InvalidInput, match="too large"):
        pub.plan_batches([_indicator(1, description="y" * 2000)], 1000)


def test_batch_limit() -> None:
    assert pub.batch_limit(10_485_760) == 10_485_760 - 4096
    assert pub.batch_limit(1000) == 950
    assert pub.batch_limit(10_485_760, 5000) == 5000
    assert pub.batch_limit(1000, 5000) == 950
    with pytest.raises(ExchangeError):
        pub.batch_limit(0)


# --- statuses -------------------------------------------------------------------------------


def _status(sid: str, ok: list[str], bad: list[str], state: str = "complete") -> dict[str, Any]:
    return {
        "id": sid,
        "status": state,
        "request_timestamp": f"2026-01-01T00:00:0{sid[-1]}.000000Z",
        "total_count": len(ok) + len(bad),
        "success_count": len(ok),
        "successes": [{"id": i, "version": "v"} for i in ok],
        "failure_count": len(bad),
        "failures": [{"id": i, "version": "v", "message": "no"} for i in bad],
        "pending_count": 0,
        "pendings": [],
    }


def test_merge_statuses() -> None:
    merged = pub.merge_statuses([_status("s1", ["a", "b"], []), _status("s2", ["c"], ["d"])])
    assert merged["id"] == "s1"
    assert merged["status"] == "complete"
    assert merged["request_timestamp"] == "2026-01-01T00:00:01.000000Z"
    assert merged["total_count"] == 4
    assert merged["success_count"] == 3
    assert merged["failure_count"] == 1
    assert merged["pending_count"] == 0
    assert [s["id"] for s in merged["successes"]] == ["a", "b", "c"]
    assert [f["id"] for f in merged["failures"]] == ["d"]
    assert merged["pendings"] == []
    assert not pub.all_ok(merged)


def test_merge_statuses_single_and_pending() -> None:
    one = _status("s1", ["a"], [])
    assert pub.merge_statuses([one]) == one
    assert pub.all_ok(one)
    late = _status("s2", [], [], state="pending") | {"pending_count": 1, "total_count": 1}
    merged = pub.merge_statuses([one, late])
    assert merged["status"] == "pending"
    assert not pub.all_ok(merged)
    with pytest.raises(ExchangeError):
        pub.merge_statuses([])


# --- signing for publication ----------------------------------------------------------------


def test_find_author() -> None:
    key = _seed_key(0)
    keys = [_entry(_seed_key(1), OTHER_IDENTITY), _entry(key)]
    assert pub.find_author(keys, key.public.key_id) == MEMBER_IDENTITY
    with pytest.raises(ExchangeError, match="not in the exchange's key directory"):
        pub.find_author(keys[:1], key.public.key_id)


def test_prepare_objects() -> None:
    key = _seed_key(0)
    other = _seed_key(1)
    tlp = {"type": "marking-definition", "spec_version": "2.1", "id": TLP_CLEAR}
    audience = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--00000000-0000-4000-8000-000000000001",
        "created": "2026-01-01T00:00:00.000Z",
    }
    unclaimed = _indicator(1)
    mine_signed_by_other = crypto.sign_object(_indicator(2, created_by_ref=MEMBER_IDENTITY), other)
    relayed = crypto.sign_object(_indicator(3, created_by_ref=OTHER_IDENTITY), other)
    inputs = [tlp, audience, unclaimed, mine_signed_by_other, relayed]
    before = copy.deepcopy(inputs)

    out = pub.prepare_objects(inputs, key, MEMBER_IDENTITY)

    assert inputs == before, "prepare_objects must not modify its input"
    assert [o["id"] for o in out] == [o["id"] for o in inputs[1:]]
    for obj in out[:3]:
        assert obj["created_by_ref"] == MEMBER_IDENTITY
        crypto.verify_object_signature(obj, key.public)
    assert out[3] == relayed


def test_prepare_objects_keeps_other_extensions() -> None:
    key = _seed_key(0)
    ext = "extension-definition--00000000-0000-4000-8000-00000000abcd"
    obj = _indicator(1, extensions={ext: {"extension_type": "property-extension", "x": 1}})
    (out,) = pub.prepare_objects([obj], key, MEMBER_IDENTITY)
    assert out["extensions"][ext] == {"extension_type": "property-extension", "x": 1}
    crypto.verify_object_signature(out, key.public)


def test_progress_bar() -> None:
    stream = io.StringIO()
    bar = pub.Progress(4, enabled=True, stream=stream)
    bar.show(0)
    bar.show(2)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 2
    assert "2/4 objects" in text
    assert text.endswith("\n")
    quiet = io.StringIO()
    silent = pub.Progress(4, enabled=False, stream=quiet)
    silent.show(1)
    silent.close()
    assert quiet.getvalue() == ""


# --- the key directory and verification -----------------------------------------------------


def test_parse_key_directory() -> None:
    key = _seed_key(0)
    body = {
        "keys": [
            {
                "key_id": key.public.key_id,
                "member": None,
                "identity": EXCHANGE_IDENTITY,
                "public_key": key.public.pem(),
                "not_before": "2025-01-01T00:00:00.000000Z",
                "not_after": None,
                "revoked_since": "2026-06-01T00:00:00Z",
            }
        ]
    }
    (entry,) = parse_key_directory(body)
    assert entry.member is None
    assert entry.identity == EXCHANGE_IDENTITY
    assert entry.not_before == T0
    assert entry.not_after is None
    assert entry.revoked_since == datetime(2026, 6, 1, tzinfo=UTC)
    with pytest.raises(ExchangeError):
        parse_key_directory({"nokeys": []})
    with pytest.raises(ExchangeError, match="malformed"):
        parse_key_directory({"keys": [{"key_id": "x"}]})


def test_valid_vectors_verify_against_a_directory() -> None:
    keys = [_entry(_seed_key(0)), _entry(_seed_key(1))]
    objects = [v["object"] for v in VECTORS["valid"]]
    result = verify_objects(objects, keys)
    assert result == {"valid": [o["id"] for o in objects], "invalid": []}


def test_invalid_vectors_are_refused() -> None:
    keys = [_entry(_seed_key(0)), _entry(_seed_key(1))]
    result = verify_objects([v["object"] for v in VECTORS["invalid"]], keys)
    assert result["valid"] == []
    reasons = [i["reason"] for i in result["invalid"]]
    assert len(reasons) == len(VECTORS["invalid"])
    by_why = dict(zip([v["why"] for v in VECTORS["invalid"]], reasons, strict=True))
    assert by_why["no signature extension"] == "unsigned"
    assert by_why["a property changed after signing"].startswith("bad signature")
    assert by_why["unsupported alg"] == "unsupported signature algorithm 'ES256'"
    assert "base64url" in by_why["signature not base64url"]


def test_verify_reasons() -> None:
    key = _seed_key(0)
    obj = crypto.sign_object(_indicator(1, created_by_ref=MEMBER_IDENTITY), key)
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

    assert check_object(obj, [_entry(key)]) is None
    assert check_object(obj, []) == f"unknown key {key.public.key_id}"
    assert check_object(obj, [_entry(key, OTHER_IDENTITY)]) == (
        f"key belongs to identity {OTHER_IDENTITY}, not created_by_ref {MEMBER_IDENTITY}"
    )
    anonymous = {k: v for k, v in obj.items() if k != "created_by_ref"}
    assert "not created_by_ref (none)" in str(check_object(anonymous, [_entry(key)]))
    kid = key.public.key_id
    assert check_object(obj, [_entry(key, not_before=datetime(2026, 2, 1, tzinfo=UTC))]) == (
        f"key {kid} is not valid before 2026-02-01T00:00:00.000000Z"
    )
    assert check_object(obj, [_entry(key, not_after=at)]) == (
        f"key {kid} expired at 2026-01-02T03:04:05.678000Z"
    )
    # Revocation applies to objects modified at or after the --since moment, not before.
    assert check_object(obj, [_entry(key, revoked_since=at)]) == (
        f"key {kid} revoked since 2026-01-02T03:04:05.678000Z"
    )
    assert check_object(obj, [_entry(key, revoked_since=datetime(2026, 1, 3, tzinfo=UTC))]) is None
    tampered = copy.deepcopy(obj)
    tampered["pattern"] = "[ipv4-addr:value = '203.0.113.1']"
    assert str(check_object(tampered, [_entry(key)])).startswith("bad signature")


def test_verify_uses_modified_else_created() -> None:
    key = _seed_key(0)
    later = _indicator(1, created_by_ref=MEMBER_IDENTITY, modified="2026-05-01T00:00:00.000Z")
    entry = _entry(key, revoked_since=datetime(2026, 3, 1, tzinfo=UTC))
    assert "revoked" in str(check_object(crypto.sign_object(later, key), [entry]))
    no_modified = {k: v for k, v in later.items() if k != "modified"}
    assert check_object(crypto.sign_object(no_modified, key), [entry]) is None
    timeless = {k: v for k, v in no_modified.items() if k != "created"}
    assert check_object(crypto.sign_object(timeless, key), [entry]) == (
        "no modified or created time"
    )


def test_exchange_signed_objects_verify_with_its_key() -> None:
    server_key = crypto.SigningKey.generate()
    identity = {
        "type": "identity",
        "spec_version": "2.1",
        "id": MEMBER_IDENTITY,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "Member",
        "created_by_ref": EXCHANGE_IDENTITY,
    }
    signed = crypto.sign_object(identity, server_key)
    keys = [_entry(_seed_key(0)), _entry(server_key, EXCHANGE_IDENTITY, member=None)]
    assert verify_objects([signed], keys) == {"valid": [MEMBER_IDENTITY], "invalid": []}


def test_key_refusal_bounds() -> None:
    entry = _entry(_seed_key(0), not_after=datetime(2026, 1, 1, tzinfo=UTC))
    assert key_refusal(entry, T0) is None
    assert key_refusal(entry, datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)) is not None
    assert key_refusal(entry, datetime(2026, 1, 1, tzinfo=UTC)) is not None


# --- HTTP, without a server -----------------------------------------------------------------


def test_error_message_uses_the_taxii_error_body() -> None:
    body = {"title": "Forbidden", "description": "read-only\ntoken", "http_status": "403"}
    assert error_message("POST", "http://x/api/v1/", 403, body) == (
        "POST http://x/api/v1/: HTTP 403: Forbidden: read-only token"
    )
    assert error_message("GET", "http://x/", 502, None) == "GET http://x/: HTTP 502"


class FakeApi(ApiClient):
    """ApiClient with its HTTP replaced by an in-memory TAXII API root."""

    def __init__(self, keys: list[DirectoryKey], max_content_length: int) -> None:
        super().__init__("http://exchange.test/api/v1", "tok")
        self.keys = keys
        self.max_content_length = max_content_length
        self.posted: list[dict[str, Any]] = []
        self.polls = 0

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        if method == "GET" and path == "":
            return {"title": "API", "versions": [], "max_content_length": self.max_content_length}
        if method == "GET" and path == "keys/":
            return {
                "keys": [
                    {
                        "key_id": k.key_id,
                        "member": k.member,
                        "identity": k.identity,
                        "public_key": k.public_key,
                        "not_before": "2025-01-01T00:00:00Z",
                        "not_after": None,
                        "revoked_since": None,
                    }
                    for k in self.keys
                ]
            }
        if method == "GET" and path == "whoami/":
            return {"member": "m", "identity": MEMBER_IDENTITY, "scope": "read-write"}
        if method == "GET" and path == "collections/":
            return {
                "collections": [
                    {"id": "c-public", "alias": "public"},
                    {"id": "c-b", "alias": "bulletins"},
                ]
            }
        if method == "POST" and path == "collections/c-b/objects/":
            assert body is not None
            assert len(body) <= self.max_content_length
            envelope = json.loads(body)
            self.posted.append(envelope)
            ids = [o["id"] for o in envelope["objects"]]
            # Every batch first answers pending, then completes on the first poll.
            return _status(f"s{len(self.posted)}", [], [], state="pending") | {
                "total_count": len(ids),
                "pending_count": len(ids),
                "pendings": [{"id": i} for i in ids],
                "_ids": ids,
            }
        if method == "GET" and path.startswith("status/s"):
            self.polls += 1
            n = int(path.removeprefix("status/s").rstrip("/"))
            ids = [o["id"] for o in self.posted[n - 1]["objects"]]
            return _status(f"s{n}", ids[1:], ids[:1])
        raise AssertionError(f"unexpected {method} {path}")


def test_publish_objects_against_a_fake_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    key = _seed_key(0)
    api = FakeApi([_entry(_seed_key(1), OTHER_IDENTITY), _entry(key)], 4000)
    objs = [_indicator(n, description="z" * 300) for n in range(12)]
    status = pub.publish_objects(api, objs, key, progress=False)
    assert len(api.posted) > 1
    posted = [o for env in api.posted for o in env["objects"]]
    assert [o["id"] for o in posted] == [o["id"] for o in objs]
    for obj in posted:
        assert obj["created_by_ref"] == MEMBER_IDENTITY
        crypto.verify_object_signature(obj, key.public)
    assert api.polls == len(api.posted)
    assert status["id"] == "s1"
    assert status["status"] == "complete"
    assert status["total_count"] == 12
    assert status["failure_count"] == len(api.posted)
    assert status["success_count"] == 12 - len(api.posted)
    assert not pub.all_ok(status)


def test_publish_file_refuses_bad_inputs(tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(_seed_key(0).private_pem())
    empty = tmp_path / "empty.json"
    empty.write_text('{"type": "bundle", "id": "bundle--1", "objects": []}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="holds no objects"):
        pub.publish_file(empty, "http://127.0.0.1:9/api/v1/", "t", key_file, progress=False)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"objects": [_indicator(1)]}), encoding="utf-8")
    not_a_key = tmp_path / "nokey.pem"
    not_a_key.write_text("hello", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"nokey\.pem"):
        pub.publish_file(bundle, "http://127.0.0.1:9/api/v1/", "t", not_a_key, progress=False)
    with pytest.raises(InvalidInput, match="cannot read"):
        pub.publish_file(
            bundle, "http://127.0.0.1:9/api/v1/", "t", tmp_path / "none.pem", progress=False
        )


def test_connection_refused_is_a_one_line_exchange_error(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"objects": [_indicator(1)]}), encoding="utf-8")
    # Port 9 (discard) on loopback is closed in any test environment we run in.
    with pytest.raises(ExchangeError) as info:
        verify_file(bundle, "http://127.0.0.1:9/api/v1/", "t")
    assert "\n" not in info.value.message
    assert not isinstance(info.value, InvalidInput)


def _response(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers["Content-Type"] = "application/taxii+json;version=2.1"
    return response


def test_api_client_requests_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str, dict[str, str], bytes | None]] = []
    answers = [
        _response(202, b'{"id": "s1", "status": "complete"}'),
        _response(403, b'{"title": "Forbidden", "description": "read-only token"}'),
        _response(500, b"<html>oops</html>"),
        _response(200, b"not json"),
    ]

    with ApiClient("http://exchange.test/api/v1", "tok") as api:

        def fake(method: str, url: str, **kw: Any) -> requests.Response:
            headers = {k: str(v) for k, v in api.session.headers.items()} | kw["headers"]
            seen.append((method, url, headers, kw["data"]))
            return answers.pop(0)

        monkeypatch.setattr(api.session, "request", fake)
        assert api.post("collections/c/objects/", b"{}") == {"id": "s1", "status": "complete"}
        with pytest.raises(PermissionDenied, match="HTTP 403: Forbidden: read-only token"):
            api.get("keys/")
        with pytest.raises(ExchangeError, match=r"HTTP 500$"):
            api.get("")
        with pytest.raises(ExchangeError, match="not JSON"):
            api.get("")

    method, url, headers, data = seen[0]
    assert (method, url, data) == (
        "POST",
        "http://exchange.test/api/v1/collections/c/objects/",
        b"{}",
    )
    assert headers["Authorization"] == "Bearer tok"
    assert headers["Accept"] == "application/taxii+json;version=2.1"
    assert headers["Content-Type"] == "application/taxii+json;version=2.1"
    assert seen[1][1] == "http://exchange.test/api/v1/keys/"
    assert seen[2][1] == "http://exchange.test/api/v1/"
    assert "Content-Type" not in seen[1][2]
