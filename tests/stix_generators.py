"""Generated STIX patterns and objects, valid and invalid, for the differential tests of the
exchange's own STIX validation against stix2-validator and stix2-patterns (used by
tests/unit/test_stix_differential.py and bench/validate_differential.py).

The reference verdicts are asked of the installed libraries each time: an object is refused
by stix2-validator when its result is not valid or when it fails with an exception (the
exchange refused those objects before it had its own validator).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from exchange.stix import pattern as stix_pattern
from exchange.stix.fast import Fallback, fast_validator
from exchange.stix.validate import library_stix_error, structure_error

ASSETS = Path(__file__).parent / "assets"
NOW = "2016-04-06T20:03:48.000Z"


def corpus_objects() -> list[dict[str, Any]]:
    """stix2-validator's own test objects and examples that pass the exchange's structure
    check (the objects the CPU stage sees)."""
    with open(ASSETS / "stix2-validator" / "objects.json", encoding="utf-8") as handle:
        objects = json.load(handle)
    return [o for o in objects if structure_error(o) is None]


def corpus_patterns() -> list[str]:
    with open(ASSETS / "stix2-patterns" / "patterns.json", encoding="utf-8") as handle:
        patterns: list[str] = json.load(handle)
    patterns += [
        o["pattern"]
        for o in corpus_objects()
        if o.get("type") == "indicator" and isinstance(o.get("pattern"), str)
    ]
    return list(dict.fromkeys(patterns))


# --- the two sides --------------------------------------------------------------------------


def reference_accepts(value: dict[str, Any]) -> bool:
    return library_stix_error(copy.deepcopy(value)) is None


def fast_accepts(value: dict[str, Any]) -> bool | None:
    """The fast validator's own verdict; None when it hands the object to stix2-validator."""
    try:
        return not fast_validator().problems(copy.deepcopy(value))
    except Fallback:
        return None


def reference_pattern_ok(text: str) -> bool:
    from stix2patterns.validator import run_validator

    try:
        return not run_validator(text, "2.1")
    except Exception:  # stix2-patterns fails on some inputs: stix2-validator refused them
        return False


def fast_pattern_ok(text: str) -> bool | None:
    try:
        stix_pattern.parse(text)
    except stix_pattern.TooComplex:
        return None
    except ValueError:
        return False
    return True


def indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    value = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
        "created": NOW,
        "modified": NOW,
        "indicator_types": ["malicious-activity"],
        "name": "Poison Ivy Malware",
        "pattern_type": "stix",
        "pattern": pattern,
        "valid_from": "2016-04-06T20:03:48Z",
    }
    value.update(extra)
    return value


# --- patterns -------------------------------------------------------------------------------

_OBJECT_TYPES = [
    "file",
    "ipv4-addr",
    "network-traffic",
    "windows-registry-key",
    "x-usb-device",
    "x509-certificate",
    "email-message",
    "ab",
    "x_thing",
    "Upper",
    "a-",
    "-a",
    "software",
    "process",
]
_NAMES = [
    "value",
    "name",
    "hashes",
    "size",
    "src_ref",
    "extensions",
    "x_custom",
    "ab",
    "Name",
    "_x",
    "values",
    "key",
    "MD5",
    "SHA-256",
    "sha256",
    "ssdeep",
    "MD6",
    "NOT",
    "true",
]
_HEX = "0123456789abcdefABCDEFxg"


def _string_literal(draw: st.DrawFn) -> str:
    body = draw(st.text(alphabet=st.sampled_from(list("ab0 '\\\n.-_:é")), max_size=8))
    if draw(st.booleans()):
        body = body.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + body + "'"


@st.composite
def literals(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return str(draw(st.integers(-1000, 1000)))
    if kind == 1:
        return draw(
            st.sampled_from(["+1", "01", "-0", "+0", "1.5", "-.5", ".25", "+.5", "1.", "-"])
        )
    if kind == 2:
        return _string_literal(draw)
    if kind == 3:
        digits = draw(st.text(alphabet=st.sampled_from(list(_HEX)), max_size=12))
        return f"h'{digits}'"
    if kind == 4:
        body = draw(
            st.sampled_from(["", "YQ==", "YWI=", "YWJj", "YWJjZA==", "Y", "YW=", "a+/9", "ab=="])
        )
        return f"b'{body}'"
    if kind == 5:
        year = draw(st.sampled_from(["2016", "0000", "9999"]))
        month = draw(st.sampled_from(["01", "12", "13", "00", "1"]))
        day = draw(st.sampled_from(["01", "31", "32", "29"]))
        hour = draw(st.sampled_from(["00", "23", "24"]))
        sec = draw(st.sampled_from(["00", "59", "60", "61"]))
        frac = draw(st.sampled_from(["", ".1", ".123456789", "."]))
        return f"t'{year}-{month}-{day}T{hour}:00:{sec}{frac}Z'"
    if kind == 6:
        return draw(st.sampled_from(["true", "false", "True", "TRUE"]))
    if kind == 7:
        # a hash value of some length
        length = draw(st.sampled_from([32, 40, 56, 64, 96, 128, 31, 33, 0, 5]))
        return "'" + "a" * length + "'"
    if kind == 8:
        return "'\n    " + "b" * 64 + "'"
    items = draw(st.lists(literals(), max_size=3))
    return "(" + draw(st.sampled_from([",", ", "])).join(items) + ")"


@st.composite
def object_paths(draw: st.DrawFn) -> str:
    object_type = draw(st.sampled_from(_OBJECT_TYPES))
    first = draw(st.sampled_from(_NAMES))
    if draw(st.integers(0, 5)) == 0:
        first = "'" + first + "'"
    steps = []
    for _ in range(draw(st.integers(0, 3))):
        choice = draw(st.integers(0, 4))
        name = draw(st.sampled_from(_NAMES))
        if choice == 0:
            steps.append(f".{name}")
        elif choice == 1:
            steps.append(f".'{name}'")
        else:
            steps.append(draw(st.sampled_from(["[0]", "[*]", "[-1]", "[+2]", "[01]", "[ 1 ]"])))
    return f"{object_type}:{first}{''.join(steps)}"


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    path = draw(object_paths())
    op = draw(
        st.sampled_from(
            [
                "=",
                "==",
                "!=",
                "<>",
                "<",
                "<=",
                ">",
                ">=",
                "IN",
                "LIKE",
                "MATCHES",
                "ISSUBSET",
                "ISSUPERSET",
                "NOT =",
                "NOT IN",
                "NOT LIKE",
                "EXISTS",
                "not =",
                "= =",
            ]
        )
    )
    if op == "EXISTS":
        return f"EXISTS {path}"
    return f"{path} {op} {draw(literals())}"


def _comparison_expressions(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return comparisons()
    inner = _comparison_expressions(depth - 1)
    return st.one_of(
        comparisons(),
        st.tuples(
            inner, st.sampled_from([" AND ", " OR ", " and ", "AND", " FOLLOWEDBY "]), inner
        ).map(lambda t: t[0] + t[1] + t[2]),
        inner.map(lambda s: f"({s})"),
    )


_QUALIFIERS = [
    "WITHIN 5 SECONDS",
    "WITHIN 2.5 SECONDS",
    "WITHIN -1 SECONDS",
    "WITHIN 0 SECONDS",
    "REPEATS 3 TIMES",
    "REPEATS 1.5 TIMES",
    "START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
    "START '2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
    "LAST 5 SECONDS",
]


def _observations(depth: int) -> st.SearchStrategy[str]:
    simple = st.tuples(
        _comparison_expressions(2), st.lists(st.sampled_from(_QUALIFIERS), max_size=2)
    ).map(lambda t: " ".join([f"[{t[0]}]", *t[1]]))
    if depth == 0:
        return simple
    inner = _observations(depth - 1)
    return st.one_of(
        simple,
        st.tuples(
            inner, st.sampled_from([" AND ", " OR ", " FOLLOWEDBY ", " followedby "]), inner
        ).map(lambda t: t[0] + t[1] + t[2]),
        st.tuples(inner, st.lists(st.sampled_from(_QUALIFIERS), max_size=2)).map(
            lambda t: " ".join([f"({t[0]})", *t[1]])
        ),
    )


_NOISE = [*"[]()'\\:.,=!<>-+*^/ \t\n\u00a0\u2003\x1c\"", "/* c */", "// c\n", "AND", "h", "t"]


@st.composite
def patterns(draw: st.DrawFn) -> str:
    """A pattern from the grammar, sometimes mutated at one to three places."""
    text = draw(_observations(2))
    if draw(st.booleans()):
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            action = draw(st.integers(0, 2))
            if action == 0:
                text = text[:at] + text[at + 1 :]
            elif action == 1:
                text = text[:at] + draw(st.sampled_from(_NOISE)) + text[at:]
            else:
                text = text[:at] + draw(st.sampled_from(_NOISE)) + text[at + 1 :]
    return text


# --- objects --------------------------------------------------------------------------------

_TIMESTAMPS = st.one_of(
    st.sampled_from(
        [
            "2016-04-06T20:03:48.000Z",
            "2016-04-06T20:03:48Z",
            "2016-02-29T00:00:00.000Z",
            "2015-02-29T00:00:00.000Z",
            "2016-04-31T00:00:00.000Z",
            "2016-04-06T20:03:60.000Z",
            "0000-01-01T00:00:00.000Z",
            "2016-04-06T20:03:48.1234567Z",
            "2016-04-06T20:03:48.12Z",
            "2016-04-06T20:03:48.000Z\n",
            "2016-04-06 20:03:48.000Z",
            "2017-01-01T00:00:00.000Z",
            "2015-01-01T00:00:00.000Z",
            "",
        ]
    ),
    st.builds(
        lambda y, mo, d, h, mi, s, f: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{f}Z",
        st.integers(0, 2100),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 24),
        st.integers(0, 60),
        st.integers(0, 61),
        st.sampled_from(["", ".0", ".000", ".999999", ".0000001"]),
    ),
)

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=6)
    | _TIMESTAMPS
    | st.sampled_from(
        [
            "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            "en",
            "fr",
            "xx",
            "http://example.com/a",
            "not a uri",
            "a@b.cd",
            "stix",
            "created",
            "[0]",
            "id",
            "pattern.x",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "id",
                    "name",
                    "x_a",
                    "ctime",
                    "marking_ref",
                    "selectors",
                    "source_name",
                    "url",
                ]
            ),
            children,
            max_size=3,
        )
    ),
    max_leaves=6,
)

_PROPERTIES = [
    "created",
    "modified",
    "valid_from",
    "valid_until",
    "name",
    "description",
    "labels",
    "lang",
    "pattern",
    "pattern_type",
    "pattern_version",
    "indicator_types",
    "created_by_ref",
    "object_marking_refs",
    "granular_markings",
    "external_references",
    "kill_chain_phases",
    "confidence",
    "revoked",
    "extensions",
    "x_custom_prop",
    "X_bad",
    "ab",
    "cpe",
    "spec_version",
]


@st.composite
def granular_markings(draw: st.DrawFn) -> Any:
    selectors = draw(
        st.lists(
            st.sampled_from(
                [
                    "name",
                    "labels.[0]",
                    "labels.[5]",
                    "description",
                    "nope",
                    "external_references.[0].url",
                    "name.[0]",
                    "[0]",
                    "labels",
                ]
            ),
            min_size=0,
            max_size=2,
        )
    )
    ref = draw(
        st.sampled_from(
            [
                "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
                "marking-definition--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "bogus",
            ]
        )
    )
    return [{"selectors": selectors, "marking_ref": ref}]


@st.composite
def objects(draw: st.DrawFn, bases: list[dict[str, Any]]) -> dict[str, Any]:
    """A corpus object (or a fresh indicator) with one to three properties changed."""
    if draw(st.integers(0, 2)) == 0:
        value = indicator(draw(patterns()))
    else:
        value = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.integers(0, 5))
        name = draw(st.sampled_from(_PROPERTIES + sorted(value)))
        if name in ("type", "id"):
            continue
        if action == 0:
            value.pop(name, None)
        elif action == 1:
            value[name] = draw(_TIMESTAMPS)
            if draw(st.booleans()):  # a pair that must be ordered (modified >= created, ...)
                pair = draw(
                    st.sampled_from(
                        [
                            ("created", "modified"),
                            ("valid_from", "valid_until"),
                            ("first_seen", "last_seen"),
                        ]
                    )
                )
                value[pair[0]], value[pair[1]] = draw(_TIMESTAMPS), draw(_TIMESTAMPS)
        elif action == 2:
            value["granular_markings"] = draw(granular_markings())
        elif action == 3 and value.get("type") == "indicator":
            value["pattern"] = draw(patterns())
        else:
            value[name] = draw(_JSON)
    return value
