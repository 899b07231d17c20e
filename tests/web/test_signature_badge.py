"""The "signature verified" badge's decision (``PublicService.verify``): every way a
bulletin's signature can fail to hold against the key directory says so, and why."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exchange.config import Settings
from exchange.crypto import SigningKey, sign_object
from exchange.services.runtime import open_services
from tests.web.helpers import report

EXT = "extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1"


@pytest.fixture
def members(make_member: Any) -> tuple[Any, Any]:
    """Made by the admin CLI, which runs its own event loop: before the test's loop starts."""
    return make_member("CERT-A"), make_member("CERT-B")


async def test_verify_decides_the_badge(db_url: str, members: tuple[Any, Any]) -> None:
    a, b = members
    services = await open_services(Settings(db=db_url))
    try:
        verify = services.public.verify
        good = a.sign(report("Good"))
        assert (await verify(good)).verified

        tampered = dict(good, name="Changed after signing")
        assert (await verify(tampered)).reason.startswith("bad signature")

        unsigned = {k: v for k, v in good.items() if k != "extensions"}
        assert (await verify(unsigned)).reason == "the bulletin is not signed"

        stranger = sign_object(
            dict(report("Unknown key"), created_by_ref=a.identity), SigningKey.generate()
        )
        assert (await verify(stranger)).reason == "the signing key is not in the key directory"

        borrowed = b.sign(report("B's key, A's name"))
        borrowed["created_by_ref"] = a.identity
        assert (await verify(borrowed)).reason == "the signing key is not the publisher's"

        early = a.sign(
            report(
                "Before the key",
                created="2020-01-01T00:00:00.000Z",
                modified="2020-01-01T00:00:00.000Z",
            )
        )
        assert "not valid before" in (await verify(early)).reason

        odd = copy.deepcopy(good)
        odd["extensions"][EXT]["signature"] = "not base64!"
        assert not (await verify(odd)).verified
    finally:
        await services.ledger.stop()
        await services.store.close()
