"""Manifest records, version lists and status resources give an object's version exactly as
its ``modified`` (else ``created``) text; ``match[version]`` still matches by instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from taxii2client.v21 import as_pages

from tests.api.conftest import collection, get, post_objects
from tests.conftest import LiveServer, audience_marking, indicator

if TYPE_CHECKING:
    from tests.conftest import TestMember


def _at(seconds: int, fraction: str) -> str:
    """A moment just after now (the members' keys are valid from now), as text."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S") + fraction


def test_versions_as_written(server: LiveServer, make_member: Any) -> None:
    member: TestMember = make_member("CERT-V")
    WRITTEN = [_at(2, ".524Z"), _at(3, ".100Z"), _at(4, ".1234567Z")]
    first = indicator("green", created=WRITTEN[0], modified=WRITTEN[0], valid_from=WRITTEN[0])
    versions = [member.sign(dict(first, modified=m)) for m in WRITTEN]
    status = post_objects(server, member.token, versions)
    assert sorted(s["version"] for s in status["successes"]) == WRITTEN
    # posting it again: the status still says the version as written
    again = post_objects(server, member.token, versions[:1])
    assert [s["version"] for s in again["successes"]] == [WRITTEN[0]]
    sid = first["id"]

    bulletins = collection(server, member.token)
    listed = bulletins.object_versions(sid)
    assert listed["versions"] == WRITTEN
    manifest = bulletins.get_manifest(id=sid, version="all")
    assert [r["version"] for r in manifest["objects"]] == WRITTEN
    latest = bulletins.get_manifest(id=sid)
    assert [r["version"] for r in latest["objects"]] == [WRITTEN[-1]]
    paged = [
        r["version"]
        for page in as_pages(bulletins.get_manifest, per_request=1, id=sid, version="all")
        for r in page.get("objects", [])
    ]
    assert paged == WRITTEN

    # match[version] matches by instant, however the instant is spelt
    for spelling in (WRITTEN[0], WRITTEN[0][:-1] + "000Z", WRITTEN[0][:-1] + "00Z"):
        found = bulletins.get_object(sid, version=spelling)["objects"]
        assert [o["modified"] for o in found] == [WRITTEN[0]]
        rows = get(
            server,
            "collections/bulletins/manifest/",
            member.token,
            params={"match[id]": sid, "match[version]": spelling},
        ).json()["objects"]
        assert [r["version"] for r in rows] == [WRITTEN[0]]
    assert (
        bulletins.get_object(sid, version=WRITTEN[1][:-1] + "000Z")["objects"][0]["modified"]
        == WRITTEN[1]
    )


def test_created_only_objects_give_created(server: LiveServer, make_member: Any) -> None:
    """A marking definition has no ``modified``: its version is its ``created``."""
    member: TestMember = make_member("CERT-C")
    written = _at(2, ".700Z")
    marking = member.sign(dict(audience_marking([f"member:{member.identity}"]), created=written))
    status = post_objects(server, member.token, [marking])
    assert [s["version"] for s in status["successes"]] == [written]
    bulletins = collection(server, member.token)
    assert bulletins.object_versions(marking["id"])["versions"] == [written]
    manifest = bulletins.get_manifest(id=marking["id"])["objects"]
    assert [r["version"] for r in manifest] == [written]
