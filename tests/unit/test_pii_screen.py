"""The PII detectors' heuristics (docs/privacy.md): what each finds, and the look-alikes of
threat intelligence (addresses, ports, CVE ids, hashes, dates) that none of them does."""

from __future__ import annotations

import pytest

from exchange.errors import InvalidInput
from exchange.services.pii import PiiScreen


def kinds(text: str, screen: PiiScreen | None = None) -> list[str]:
    found = (screen or PiiScreen()).screen({"type": "note", "content": text})
    return [f.kind for f in found]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe@example.org", ["email"]),
        ("+1 202-555-0143", ["phone"]),
        ("+33 (0)1 23 45 67 89", ["phone"]),
        ("Tel. 030 1234 5678", ["phone"]),
        ("Fax: (030) 12345678", ["phone"]),
        ("GB82 WEST 1234 5698 7654 32", ["iban"]),
        ("DE89370400440532013000", ["iban"]),
        ("5555-5555-5555-4444", ["card"]),
        ("Mrs Jane Doe called", ["name"]),
        ("Herr Müller", ["name"]),
        ("Mme Élodie Durand", ["name"]),
        ("Prof. Smith", ["name"]),
    ],
)
def test_each_detector_finds_its_kind(text: str, expected: list[str]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "C2 at 198.51.100.7:8443 and 2001:db8::1",
        "ports 22 80 443 8080 8443 3389",
        "CVE-2024-12345, CVE-2023-4863",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "first seen 2026-12-03T06:30:28.000Z",
        "GB82 WEST 1234 5698 7654 33",  # IBAN check digits wrong
        "4111 1111 1111 1112",  # Luhn fails
        "0000 0000 0000 0000",
        "call the SOC",
        "APT28 (Fancy Bear) used Mimikatz; see MS17-010",
        "user@ without a domain, @handle",
    ],
)
def test_look_alikes_are_not_personal_data(text: str) -> None:
    assert kinds(text) == []


def test_configured_patterns_and_a_bad_one() -> None:
    screen = PiiScreen({"badge": r"\bB-\d{4}\b"})
    assert kinds("badge B-1234", screen) == ["badge"]
    with pytest.raises(InvalidInput, match=r"pii_patterns\.bad"):
        PiiScreen({"bad": "("})


def test_off_observables_and_allowed_fields() -> None:
    assert PiiScreen(enabled=False).screen({"type": "note", "content": "a@b.example"}) == []
    assert PiiScreen().screen({"type": "email-addr", "value": "a@b.example"}) == []
    found = PiiScreen(allow_fields=["abstract"]).screen(
        {"type": "note", "abstract": "a@b.example", "pattern": "a@b.example", "url": "a@b.example",
         "object_refs": ["a@b.example"], "content": "ok"}
    )  # fmt: skip
    assert found == []
