"""PII screening on ingest (docs/privacy.md): personal data in an object's free-text fields.

Objects are signed, so the exchange never edits them: a finding refuses the object (refusal
code ``pii-found``, naming the field and the kind), unless its author marked the field as
intended (the "intended personal data" extension, inside the signed object), or the
member's standing rules send such objects to the review queue.

The detectors, each a documented heuristic:

- ``email``: an e-mail address;
- ``phone``: an international number (``+`` and 8 to 15 digits, spaces, dashes, dots or
  parentheses between them), or 8 to 15 digits after a cue word (tel, phone, mobile, fax, call);
- ``iban``: two letters, two check digits and 11 to 30 letters or digits that pass ISO 13616's
  mod-97 check;
- ``card``: 13 to 19 digits (spaces or dashes between groups), first digit 2 to 6, that pass
  the Luhn check;
- ``name``: a title (Mr, Mrs, Ms, Mx, Miss, Dr, Prof, Sir, Herr, Frau, Mme, M.) followed by a
  capitalised word (Latin-1 letters): personal names cannot be told from other words reliably, this finds
  the ones that announce themselves;
- any pattern of the configuration (``pii_patterns``: name -> regular expression).

Not screened: the fields where an address or a number is the indicator or a machine value
(``pattern``, ids, references, timestamps, hashes, URLs, ``external_id``, the exchange's
extensions) and every cyber-observable (its values are the observation), plus the
configuration's ``pii_allow_fields``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exchange.errors import InvalidInput
from exchange.stix.types import is_observable

INTENDED_EXTENSION_ID = "extension-definition--96bde4db-0e76-40fa-a947-62696de3c661"

# Property names never screened (at any depth): machine values, or the indicator itself.
ALLOWED_FIELDS = frozenset(
    {
        "id",
        "type",
        "spec_version",
        "created",
        "modified",
        "pattern",
        "pattern_type",
        "pattern_version",
        "valid_from",
        "valid_until",
        "first_seen",
        "last_seen",
        "first_observed",
        "last_observed",
        "published",
        "hashes",
        "url",
        "external_id",
        "extension_type",
        "lang",
        "object_marking_refs",
        "granular_markings",
    }
)
# The exchange's own extensions hold keys, signatures and audience entries, not free text.
UNSCREENED_EXTENSIONS = frozenset(
    {
        "extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1",  # signature
        "extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c",  # audience
        "extension-definition--f5f0c88e-8781-48d4-afda-5568cc69516c",  # anonymised copy
        INTENDED_EXTENSION_ID,
    }
)

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d(?:[ ./()-]{0,2}\d){7,14}(?!\w)")
_PHONE_CUE = re.compile(
    r"\b(?:tel|phone|telephone|mobile|cell|fax|call)\b\.?:?\s*(\(?\d(?:[ ./()-]{0,2}\d){7,14})(?!\w)",
    re.IGNORECASE,
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_CARD = re.compile(r"(?<![\w-])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\w-])")
_NAME = re.compile(
    r"(?<!\w)(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Sir|Herr|Frau|Mme|M)\.?\s+"
    r"[A-Z\u00c0-\u00d6\u00d8-\u00de][a-z\u00df-\u00f6\u00f8-\u00ff'\u2019-]+"
    r"(?:\s+[A-Z\u00c0-\u00d6\u00d8-\u00de][a-z\u00df-\u00f6\u00f8-\u00ff'\u2019-]+)?"
)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _emails(text: str) -> bool:
    return _EMAIL.search(text) is not None


def _phones(text: str) -> bool:
    for match in _PHONE_INTL.finditer(text):
        if 8 <= len(_digits(match.group(0))) <= 15:
            return True
    return any(8 <= len(_digits(m.group(1))) <= 15 for m in _PHONE_CUE.finditer(text))


def _ibans(text: str) -> bool:
    return any(_iban_ok(m.group(0)) for m in _IBAN.finditer(text))


def _cards(text: str) -> bool:
    for match in _CARD.finditer(text):
        digits = _digits(match.group(0))
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn(digits):
            return True
    return False


def _names(text: str) -> bool:
    return _NAME.search(text) is not None


BUILT_IN: dict[str, tuple[str, Callable[[str], bool]]] = {
    "email": ("an e-mail address", _emails),
    "phone": ("a phone number", _phones),
    "iban": ("an IBAN", _ibans),
    "card": ("a payment card number", _cards),
    "name": ("a personal name", _names),
}


@dataclass(frozen=True)
class Finding:
    field: str  # the path, e.g. "description", "external_references[0].description"
    kind: str  # "email", "phone", …, or a configured pattern's name

    @property
    def text(self) -> str:
        what = BUILT_IN[self.kind][0] if self.kind in BUILT_IN else f"pattern {self.kind!r}"
        return f"{what} in {self.field}"


class PiiScreen:
    """The detectors and the allow-list, from the configuration."""

    def __init__(
        self,
        patterns: Mapping[str, str] | None = None,
        allow_fields: Sequence[str] = (),
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self.allowed = ALLOWED_FIELDS | set(allow_fields)
        self.detectors: list[tuple[str, Callable[[str], bool]]] = [
            (name, test) for name, (_, test) in BUILT_IN.items()
        ]
        for name, expression in (patterns or {}).items():
            try:
                compiled = re.compile(expression)
            except re.error as exc:
                raise InvalidInput(f"pii_patterns.{name}: not a regular expression: {exc}") from exc
            self.detectors.append((name, _searcher(compiled)))

    def screen(self, value: dict[str, Any]) -> list[Finding]:
        """The personal data found in ``value``'s free text, outside the fields its author
        marked as intended; one finding per field and kind."""
        if not self.enabled or is_observable(value):
            return []
        intended = _intended(value)
        found: list[Finding] = []
        seen: set[tuple[str, str]] = set()
        for top, path, text in self._texts(value):
            if top in intended:
                continue
            for kind, test in self.detectors:
                if (path, kind) not in seen and test(text):
                    seen.add((path, kind))
                    found.append(Finding(path, kind))
        return found

    def _texts(self, value: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
        """(top-level property, path, text) of every screened string."""
        for name, item in value.items():
            if self._skip(name):
                continue
            if name == "extensions" and isinstance(item, dict):
                for ext_id, ext in item.items():
                    if ext_id not in UNSCREENED_EXTENSIONS:
                        yield from self._walk(name, f"extensions.{ext_id}", ext)
                continue
            yield from self._walk(name, name, item)

    def _walk(self, top: str, path: str, item: Any) -> Iterator[tuple[str, str, str]]:
        if isinstance(item, str):
            yield top, path, item
        elif isinstance(item, list):
            for i, sub in enumerate(item):
                yield from self._walk(top, f"{path}[{i}]", sub)
        elif isinstance(item, dict):
            for name, sub in item.items():
                if not self._skip(str(name)):
                    yield from self._walk(top, f"{path}.{name}", sub)

    def _skip(self, name: str) -> bool:
        return name in self.allowed or name.endswith(("_ref", "_refs"))


def _searcher(compiled: re.Pattern[str]) -> Callable[[str], bool]:
    def search(text: str) -> bool:
        return compiled.search(text) is not None

    return search


def _intended(value: dict[str, Any]) -> frozenset[str]:
    """The top-level properties the author marked as holding intended personal data."""
    extensions = value.get("extensions")
    ext = extensions.get(INTENDED_EXTENSION_ID) if isinstance(extensions, dict) else None
    fields = ext.get("fields") if isinstance(ext, dict) else None
    if not isinstance(fields, list):
        return frozenset()
    return frozenset(f for f in fields if isinstance(f, str))
