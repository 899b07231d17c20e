"""STIX 2.1 validation as strict as stix2-validator (default options), about 20x faster.

The same three parts as stix2-validator, each done once per process or faster:

- **The OASIS JSON schemas** that stix2-validator ships, read from its installed package
  and compiled once with jsonschema-rs. What differs between jsonschema-rs and the Python
  ``jsonschema`` that stix2-validator uses is translated so that the verdicts agree:
  ``pattern`` is evaluated by Python's ``re.search`` (a format of our own: Python's ``$``
  also matches before a final newline, its ``.`` matches ``\\r``, its ``\\d`` any Unicode
  digit; ECMA 262 differs on all three), ``patternProperties`` keys are rewritten to the
  same meaning, and the ``email``, ``uri`` and ``idn-hostname`` formats call the checks
  ``jsonschema`` calls (stix2-validator's e-mail expression, rfc3986-validator, idna).
- **The MUST checks** of ``stix2validator/v21/musts.py``, re-expressed over the parsed
  object (``_must_problems``), with its vocabularies read from its installed
  ``v21/enums.py`` and IANA tables.
- **STIX patterns** with the exchange's own parser (exchange.stix.pattern).

What stix2-validator does that would need far more code for objects no member posts is
handed to stix2-validator itself (``Fallback``): bundles, observed-data and observables
with an ``objects`` property, objects holding STIX objects in a list property (it checks
those too), a ``pattern_version`` other than 2.1, patterns nested deeper than
exchange.stix.pattern.MAX_DEPTH, and values jsonschema-rs cannot take (integers beyond
64 bits). tests/unit/test_stix_differential.py proves the verdicts equal.

Where stix2-validator fails with an exception on an input (it does on some malformed
values), the exchange refused the object (the exception was the refusal); these checks
refuse it too.
"""

from __future__ import annotations

import calendar
import csv
import glob
import importlib.util
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema_rs

from exchange.stix import pattern as stix_pattern


class Fallback(Exception):
    """This object is for stix2-validator itself to judge (see the module's docstring)."""


class _Refuse(Exception):
    """Where stix2-validator would fail with an exception: the object is invalid."""


# --- what stix2-validator ships -------------------------------------------------------------


def package_dir() -> str:
    """The installed stix2validator package, found without importing it (its import costs
    seconds of CPU: jsonschema's format checkers build a grammar)."""
    spec = importlib.util.find_spec("stix2validator")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("stix2-validator is not installed")
    return str(next(iter(spec.submodule_search_locations)))


def _load_enums(root: str) -> ModuleType:
    # Its vocabularies module imports only csv, glob and os; loaded on its own so that the
    # package (and jsonschema) is not imported.
    spec = importlib.util.spec_from_file_location(
        "exchange_stix2validator_v21_enums", os.path.join(root, "v21", "enums.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _iana_column(paths: list[str], pick: Callable[[dict[str, str], str], str | None]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        category = os.path.basename(path).split("_", 1)[-1].rsplit(".", 1)[0]
        with open(path, encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                value = pick(row, category)
                if value:
                    out.add(value)
    return out


def _media_type(row: dict[str, str], category: str) -> str | None:
    if row.get("Template"):
        return row["Template"]
    return f"{category}/{row['Name']}" if row.get("Name") else None


def _charset(row: dict[str, str], _category: str) -> str | None:
    return row.get("Preferred MIME Name") or row.get("Name") or None


# --- the JSON schemas, compiled with jsonschema-rs -----------------------------------------

_EMAIL = re.compile(r"(^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$)")
_PY_RE_FORMAT = "exchange-python-re-"


def _is_email(value: str) -> bool:
    return _EMAIL.match(value) is not None


def _is_uri(value: str) -> bool:
    from rfc3986_validator import validate_rfc3986

    return bool(validate_rfc3986(value, rule="URI"))


def _is_idn_hostname(value: str) -> bool:
    import idna

    try:
        idna.encode(value)
    except Exception:  # IDNAError, UnicodeError: invalid; anything else made jsonschema fail
        return False
    return True


def _python_property_pattern(expression: str) -> str:
    """A patternProperties key, rewritten so that the Rust engine matches what Python's
    ``re.search`` matches: ``$`` also before a final newline, ``.`` anything but a newline.
    Only the constructs the STIX schemas use are accepted (checked when compiled)."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(expression):
        c = expression[i]
        if c == "\\":
            escape = expression[i : i + 2]
            if escape[1:] not in ("-", ".", "[", "]", "\\", "/", "^", "$", "(", ")", "*", "+"):
                raise ValueError(f"unsupported escape {escape} in {expression!r}")
            out.append(escape)
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "$":
            c = r"(?:\n?$)"
        elif c == ".":
            c = r"[^\n]"
        out.append(c)
        i += 1
    return "".join(out)


class _Schemas:
    """Every schema file of stix2-validator's STIX 2.1 set, compiled once."""

    def __init__(self, schema_dir: str) -> None:
        self.schema_dir = schema_dir
        self.paths: dict[str, str] = {}
        for root, _dirs, files in os.walk(schema_dir, followlinks=True):
            if "examples" in root:  # as stix2validator.find_schema skips them
                continue
            for name in files:
                if name.endswith(".json"):
                    self.paths.setdefault(name[: -len(".json")], os.path.join(root, name))
        self.regexes: list[re.Pattern[str]] = []
        self.formats: dict[str, Callable[[str], bool]] = {
            "email": _is_email,
            "uri": _is_uri,
            "idn-hostname": _is_idn_hostname,
        }
        resources = []
        self.documents: dict[str, Any] = {}
        for stem, path in self.paths.items():
            uri = Path(os.path.abspath(path)).as_uri()
            with open(path, encoding="utf-8") as handle:
                document = self._translate(json.load(handle))
            if isinstance(document, dict):
                if "$schema" in document:
                    document["$schema"] = document["$schema"].replace(
                        "http://json-schema.org/draft/", "https://json-schema.org/draft/"
                    )
                document["$id"] = uri
            self.documents[stem] = document
            resources.append((uri, document))
        self.registry = jsonschema_rs.Registry(resources)
        self.validators: dict[str, Any] = {}

    def _translate(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self._translate(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: self._translate(value) for key, value in node.items()}
        expression = node.get("pattern")
        if isinstance(expression, str):
            del out["pattern"]
            compiled = re.compile(expression)
            name = f"{_PY_RE_FORMAT}{len(self.regexes)}"
            self.regexes.append(compiled)
            self.formats[name] = _search(compiled)
            out.setdefault("allOf", []).append({"format": name})
        props = node.get("patternProperties")
        if isinstance(props, dict):
            out["patternProperties"] = {
                _python_property_pattern(key): self._translate(value)
                for key, value in props.items()
            }
        return out

    def validator(self, stem: str) -> Any:
        found = self.validators.get(stem)
        if found is None:
            found = jsonschema_rs.Draft202012Validator(
                self.documents[stem],
                registry=self.registry,
                formats=self.formats,
                validate_formats=True,
            )
            self.validators[stem] = found
        return found


def _search(compiled: re.Pattern[str]) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return compiled.search(value) is not None

    return check


# --- the MUST checks ------------------------------------------------------------------------

_TIMESTAMP = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(\.[0-9]+)?Z$"
)
_TYPE_NAME = re.compile(r"^\-?[a-z0-9]+(-[a-z0-9]+)*\-?$")
_PROPERTY_NAME = re.compile(r"^[a-z0-9_]{3,250}$")
_SELECTOR_INDEX = re.compile(r"\[(\d+)\]")
_UUID4_UNLESS = {
    "artifact": ("hashes", "payload_bin"),
    "email-message": ("from_ref", "subject", "body"),
    "user-account": ("account_type", "user_id", "account_login"),
    "windows-registry-key": ("key", "values"),
    "x509-certificate": ("hashes", "serial_number"),
}


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Refuse(f"{value!r} is not a string")
    return value


def _calendar_date(text: str) -> bool:
    """A timestamp (already of the right form) names a real moment: what dateutil's parser
    accepts of it (no 31 April, no second 60, no year 0)."""
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    return year >= 1 and day <= calendar.monthrange(year, month)[1] and text[17:19] != "60"


def _moment(text: str) -> tuple[int, ...] | None:
    """What musts.datetime_from_str makes of a timestamp: a moment (as a tuple that orders
    like a datetime) when it is a real one with at most 6 decimals, else None (it keeps
    the string)."""
    if not _calendar_date(text):
        return None
    fraction = text[20:-1] if len(text) > 20 else ""
    if len(fraction) > 6:
        return None
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    return (
        int(text[0:4]),
        int(text[5:7]),
        int(text[8:10]),
        int(text[11:13]),
        int(text[14:16]),
        int(text[17:19]),
        micro,
    )


def _in(key: str, container: Any) -> bool:
    """Python's ``key in container`` as stix2-validator evaluates it on any JSON value."""
    if isinstance(container, (dict, list, str)):
        return key in container
    raise _Refuse("not a container")


class FastValidator:
    """One per process (``fast_validator()``): schemas compiled, vocabularies loaded."""

    def __init__(self, root: str | None = None) -> None:
        root = root or package_dir()
        self.enums = _load_enums(root)
        self.schemas = _Schemas(os.path.join(root, "schemas-2.1", "schemas"))
        assets = os.path.join(root, "v21", "assets")
        self.media_types = _iana_column(
            sorted(glob.glob(os.path.join(assets, "mediatype_*.csv"))), _media_type
        )
        self.charsets = _iana_column([os.path.join(assets, "charsets.csv")], _charset)
        self.observable_types = frozenset(self.enums.OBSERVABLE_TYPES)
        self.lang_codes = frozenset(self.enums.LANG_CODES)
        self.software_lang_codes = frozenset(self.enums.SOFTWARE_LANG_CODES)

    def problems(self, value: dict[str, Any]) -> list[str]:
        """Why stix2-validator (default options, STIX 2.1) would refuse ``value``; empty
        when it accepts it. Raises Fallback for what stix2-validator must judge itself."""
        self._check_fallback(value)
        try:
            errors = self._schema_problems(value)
            errors += list(_first(self._must_problems(value), 3))
        except _Refuse as exc:
            return [f"{exc}"]
        except (ValueError, OverflowError) as exc:  # a value jsonschema-rs cannot take
            raise Fallback(str(exc)) from exc
        return errors

    def _check_fallback(self, value: dict[str, Any]) -> None:
        stix_type = value["type"]
        if stix_type == "bundle":
            raise Fallback("a bundle")
        if "objects" in value and (
            stix_type == "observed-data" or stix_type in self.observable_types
        ):
            raise Fallback("observed objects")
        for item in value.values():
            if type(item) is list:
                for child in item:
                    if isinstance(child, dict) and "id" in child and "type" in child:
                        raise Fallback("a STIX object inside a list property")
        if stix_type == "indicator":
            version = value.get("pattern_version", value.get("spec_version", "2.1"))
            if version != "2.1":
                raise Fallback("pattern_version is not 2.1")

    def _schema_problems(self, value: dict[str, Any]) -> list[str]:
        stix_type = value["type"]
        stem = stix_type if stix_type in self.schemas.paths else None
        if stem is None:
            custom_observable = (
                "created" not in value
                and "modified" not in value
                and stix_type != "marking-definition"
            )
            stem = "cyber-observable-core" if custom_observable else "core"
        validator = self.schemas.validator(stem)
        if validator.is_valid(value):
            return []
        return [
            f"{'/'.join(str(p) for p in error.instance_path) or '(object)'}: {error.message}"
            for error in _first(validator.iter_errors(value), 3)
        ]

    def _must_problems(self, value: dict[str, Any]) -> Iterator[str]:
        stix_type = value["type"]
        enums = self.enums
        observable = stix_type in self.observable_types
        # timestamp: real dates and times
        props = ["created", "modified", *enums.TIMESTAMP_PROPERTIES.get(stix_type, [])]
        if observable:
            props += enums.TIMESTAMP_OBSERVABLE_PROPERTIES.get(stix_type, [])
        for name in props:
            if name in value:
                text = _text(value[name])
                if _TIMESTAMP.match(text) and not _calendar_date(text):
                    yield f"'{name}': '{text}' is not a valid timestamp"
        if observable:
            for embed, names in enums.TIMESTAMP_EMBEDDED_PROPERTIES.get(stix_type, {}).items():
                holder = value.get(embed)
                if not isinstance(holder, dict):
                    continue
                places = list(holder.values()) if embed == "extensions" else [holder]
                for place in places:
                    for name in names:
                        if _in(name, place):
                            if not isinstance(place, dict):
                                raise _Refuse(f"'{embed}' holds a value that is not an object")
                            text = _text(place[name])
                            if _TIMESTAMP.match(text) and not _calendar_date(text):
                                yield f"'{embed}': '{name}': '{text}' is not a valid timestamp"
        # timestamp_compare, observable_timestamp_compare
        compares = [("modified", "ge", "created"), *enums.TIMESTAMP_COMPARE.get(stix_type, [])]
        if observable:
            compares += enums.TIMESTAMP_COMPARE_OBSERVABLE.get(stix_type, [])
        for first, op, second in compares:
            if first in value and second in value and not _compare(value[first], op, value[second]):
                word = "later than" if op == "gt" else "later than or equal to"
                yield f"'{first}' ({value[first]}) must be {word} '{second}' ({value[second]})"
        stix_id = value["id"]
        if stix_type == "marking-definition":
            for ref in _iterate(value.get("object_marking_refs", [])):
                if ref == stix_id:
                    yield "a marking definition cannot reference itself in object_marking_refs"
            for marking in _iterate(value.get("granular_markings", [])):
                if _in("marking_ref", marking) and _item(marking, "marking_ref") == stix_id:
                    yield "a marking definition cannot reference itself in granular_markings"
        if "granular_markings" in value:
            for marking in _iterate(value["granular_markings"]):
                if _in("selectors", marking):
                    for selector in _iterate(_item(marking, "selectors")):
                        problem = _selector_problem(value, selector)
                        if problem is not None:
                            yield problem
        if observable:
            if (
                stix_type == "artifact"
                and "mime_type" in value
                and not _member(value["mime_type"], self.media_types)
            ):
                yield f"mime_type {value['mime_type']!r} is not an IANA media type"
            for kind, name in (("directory", "path_enc"), ("file", "name_enc")):
                if stix_type == kind and name in value and not _member(value[name], self.charsets):
                    yield f"{name} {value[name]!r} is not an IANA character set"
        if "lang" in value and not _member(value["lang"], self.lang_codes):
            yield f"'{value['lang']}' is not a valid RFC 5646 language code"
        if observable and stix_type == "software" and "languages" in value:
            for lang in _iterate(value["languages"]):
                if not _member(lang, self.lang_codes) and not _member(
                    lang, self.software_lang_codes
                ):
                    yield f"languages: {lang!r} is not a language code"
        if stix_type == "indicator" and value.get("pattern_type", "") == "stix":
            source = value.get("pattern")
            if isinstance(source, str):
                yield from self._pattern_problems(source)
        if "cpe" in value:
            yield from _cpe_problems(value["cpe"])
        if stix_type == "language-content" and "contents" in value:
            contents = value["contents"]
            if not isinstance(contents, dict):
                raise _Refuse("contents is not an object")
            for key, entry in contents.items():
                if key not in self.lang_codes:
                    yield f"contents: {key!r} is not an RFC 5646 language code"
                if not isinstance(entry, dict):
                    raise _Refuse("a contents entry is not an object")
                for sub in entry:
                    if not _PROPERTY_NAME.match(sub):
                        yield f"contents: {sub!r} is not a property name"
        contributing = _UUID4_UNLESS.get(stix_type)
        needs_uuid4 = stix_type == "process" or (
            contributing is not None and all(k not in value for k in contributing)
        )
        if needs_uuid4 and uuid.UUID(stix_id.split("--")[-1]).version != 4:
            yield f"{stix_id} must use a version 4 UUID"

    def _pattern_problems(self, text: str) -> Iterator[str]:
        try:
            parsed = stix_pattern.parse(text)
        except stix_pattern.TooComplex as exc:
            raise Fallback(str(exc)) from exc
        except ValueError as exc:
            yield f"pattern: {exc}"
            return
        known = self.enums.OBSERVABLE_PROPERTIES
        for comparison in parsed.comparisons:
            object_type = comparison.object_type
            if object_type not in self.observable_types and (
                not _TYPE_NAME.match(object_type) or not 3 <= len(object_type) <= 250
            ):
                yield f"pattern: '{object_type}' is not a valid observable type name"
            prop = comparison.path[0]
            assert isinstance(prop, str)
            if object_type in known and prop in known[object_type]:
                continue
            if not _PROPERTY_NAME.match(prop):
                yield f"pattern: '{prop}' is not a valid observable property name"


def _first(items: Any, count: int) -> Iterator[Any]:
    for n, item in enumerate(items):
        if n >= count:
            return
        yield item


def _iterate(value: Any) -> list[Any]:
    """``for x in value`` as stix2-validator does it on a JSON value."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return list(value)
    if isinstance(value, dict):
        return list(value)
    raise _Refuse("not a list")


def _item(container: Any, key: str) -> Any:
    if isinstance(container, dict):
        return container[key]
    raise _Refuse("not an object")


def _member(value: Any, known: frozenset[str] | set[str]) -> bool:
    return isinstance(value, str) and value in known


def _compare(first: Any, op: str, second: Any) -> bool:
    """musts.compare: as moments when both are timestamps with a real date and at most 6
    decimals, else as the strings they are (both must be strings: else it fails)."""
    a, b = _text(first), _text(second)
    left: Any = a
    right: Any = b
    if _TIMESTAMP.match(a) and _TIMESTAMP.match(b):
        moments = _moment(a), _moment(b)
        if moments[0] is not None and moments[1] is not None:
            left, right = moments
    return bool(left > right if op == "gt" else left >= right)


def _selector_problem(value: dict[str, Any], selector: Any) -> str | None:
    if not isinstance(selector, str):
        raise _Refuse("a selector is not a string")
    node: Any = value
    for segment in selector.split("."):
        index = _SELECTOR_INDEX.match(segment)
        if index is not None:
            position = int(index.group(1))
            if isinstance(node, (list, str)) and position < len(node):
                node = node[position]
                continue
            if isinstance(node, (list, str, dict)):
                return f"'{selector}' is not a valid selector"
            raise _Refuse(f"'{selector}' is not a valid selector")
        if isinstance(node, dict) and segment in node:
            node = node[segment]
            continue
        return f"'{selector}' is not a valid selector"
    return None


def _cpe_problems(value: Any) -> Iterator[str]:
    from cpe import CPE

    try:
        CPE(value, CPE.VERSION_2_3)
    except NotImplementedError:
        yield f"cpe {value!r} is not CPE 2.3"
    except Exception as exc:  # stix2-validator fails on it: refused
        raise _Refuse(f"cpe {value!r}: {exc}") from exc


@lru_cache(maxsize=1)
def fast_validator() -> FastValidator:
    """This process's validator, built on first use (about 0.1 s)."""
    return FastValidator()
