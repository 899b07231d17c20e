"""The ``validator`` setting: the fast validator (default) and stix2-validator itself give the
same outcome for each object of an envelope, over HTTP; the setting is checked."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.config import load_settings
from exchange.errors import InvalidInput
from tests.api.conftest import post_objects
from tests.conftest import LiveServer, free_port, indicator


def _envelope(member: Any) -> list[dict[str, Any]]:
    plain = indicator("green")
    return [
        member.sign(indicator("green")),
        member.sign(indicator("green", pattern="[ipv4-addr:value = ")),
        member.sign(indicator("green", pattern="[file:hashes.MD5 = 'abc']")),
        member.sign(
            indicator("green", pattern="[file:name = 'x'] WITHIN 1 SECONDS WITHIN 2 SECONDS")
        ),
        member.sign(indicator("green", valid_until="2000-01-01T00:00:00Z")),
        member.sign(indicator("green", lang="zzzzzzzz")),
        member.sign(indicator("green", labels="not a list")),
        member.sign(
            indicator(
                "green",
                granular_markings=[
                    {"selectors": ["nope"], "marking_ref": plain["object_marking_refs"][0]}
                ],
            )
        ),
        member.sign(
            indicator("green", pattern="([file:name = 'x']) WITHIN 1 SECONDS WITHIN 2 SECONDS")
        ),
    ]


def _outcomes(status: dict[str, Any], sent: list[dict[str, Any]]) -> list[str]:
    failed = {f["id"]: f["message"] for f in status.get("failures", [])}
    return [failed[o["id"]].split(":")[0] if o["id"] in failed else "stored" for o in sent]


def test_fast_and_stix2_validator_agree_over_http(server: LiveServer, make_member: Any) -> None:
    member = make_member("CERT-S")
    library = LiveServer(
        server.settings.model_copy(update={"port": free_port(), "validator": "stix2-validator"})
    )
    library.start()
    try:
        fast_sent, library_sent = _envelope(member), _envelope(member)
        fast = _outcomes(post_objects(server, member.token, fast_sent), fast_sent)
        slow = _outcomes(post_objects(library, member.token, library_sent), library_sent)
    finally:
        library.stop()
    assert fast == slow
    assert fast[0] == "stored" and fast[-1] == "stored"
    assert fast[1:-1] == ["invalid-stix"] * 7 or all(o != "stored" for o in fast[1:-1])


def test_validator_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().validator == "fast"
    monkeypatch.setenv("EXCHANGE_VALIDATOR", "stix2-validator")
    assert load_settings().validator == "stix2-validator"
    monkeypatch.setenv("EXCHANGE_VALIDATOR", "slow")
    with pytest.raises(InvalidInput, match="validator"):
        load_settings()
