"""Bulletins written by hand: Markdown with a YAML front matter, made into STIX.

``exchange publish bulletin.md`` turns the file into a ``report`` (the Markdown body is its
``description``) with the indicators and vulnerabilities it lists, all under one TLP marking
(and an audience marking where the TLP needs one), signs them and posts them;
``exchange publish FILE --dry-run`` prints the signed STIX bundle instead of posting it.
The format is documented in docs/bulletins.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exchange.client import ApiClient, load_objects
from exchange.client.publish import find_author, prepare_objects, publish_objects
from exchange.crypto import SigningKey
from exchange.errors import ExchangeError, InvalidInput

TLP_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
AUDIENCE_EXTENSION_ID = "extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c"
SHARING_PREFIXES = ("member:", "group:", "sector:", "economy:", "kind:")
# Report types: STIX 2.1's report-type-ov, and "best-practice" for advice bulletins.
REPORT_TYPES = frozenset(
    {
        "attack-pattern",
        "campaign",
        "identity",
        "indicator",
        "intrusion-set",
        "malware",
        "observed-data",
        "threat-actor",
        "threat-report",
        "tool",
        "vulnerability",
        "best-practice",
    }
)
MARKDOWN_SUFFIXES = (".md", ".markdown")
# A fixed namespace: the same bulletin id and pattern always give the same indicator id,
# so publishing an edited file again makes new versions, not new objects.
NAMESPACE = uuid.UUID("3f1c9a52-6d0e-4b8f-9a57-0c4e2d9b7a11")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_STIX_ID = re.compile(r"^[a-z0-9][a-z0-9-]*--[0-9a-fA-F-]{36}$")
_LANG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IndicatorEntry(Frozen):
    pattern: str = Field(min_length=1)
    name: str | None = None
    description: str | None = None
    pattern_type: str = "stix"
    indicator_types: tuple[str, ...] = ("malicious-activity",)


class Reference(Frozen):
    """A reference: a STIX id, a CVE (made a vulnerability object) or a web page."""

    id: str | None = None
    cve: str | None = None
    url: str | None = None
    name: str | None = None
    description: str | None = None

    @field_validator("cve")
    @classmethod
    def _cve(cls, value: str | None) -> str | None:
        if value is not None and not _CVE.match(value):
            raise ValueError(f"{value!r} is not a CVE id like CVE-2024-1234")
        return value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value is not None and not _STIX_ID.match(value):
            raise ValueError(f"{value!r} is not a STIX id")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class FrontMatter(Frozen):
    title: str = Field(min_length=1, max_length=500)
    tlp: Literal["clear", "green", "amber", "amber+strict", "red"]
    type: tuple[str, ...] = ("threat-report",)
    language: str | None = None
    audience: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    indicators: tuple[IndicatorEntry, ...] = ()
    id: str | None = None
    published: datetime | None = None

    @field_validator("type", "audience", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("references", mode="before")
    @classmethod
    def _references(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"id": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("indicators", mode="before")
    @classmethod
    def _indicators(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"pattern": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("tlp", mode="before")
    @classmethod
    def _tlp(cls, value: Any) -> Any:
        text = value.strip().lower() if isinstance(value, str) else value
        return text.removeprefix("tlp:") if isinstance(text, str) else text

    @field_validator("type")
    @classmethod
    def _types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in REPORT_TYPES]
        if unknown or not value:
            raise ValueError(f"types must be among {', '.join(sorted(REPORT_TYPES))}")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and not _LANG.match(value):
            raise ValueError(f"{value!r} is not a language tag like en or de-CH")
        return value

    @field_validator("id")
    @classmethod
    def _report_id(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^report--[0-9a-fA-F-]{36}$", value):
            raise ValueError(f"{value!r} is not a report id (report--UUID)")
        return value


def split_front_matter(text: str, name: str) -> tuple[dict[str, Any], str]:
    """(front matter, Markdown body) of a bulletin file."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise InvalidInput(
            f"{name}: a bulletin starts with a YAML front matter between '---' lines"
        )
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        raise InvalidInput(f"{name}: the front matter has no closing '---' line")
    try:
        meta = yaml.safe_load("".join(lines[1:end]))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 2}" if where is not None else ""
        raise InvalidInput(f"{name}: the front matter is not valid YAML{line}") from exc
    if not isinstance(meta, dict):
        raise InvalidInput(f"{name}: the front matter must be a mapping of keys to values")
    return meta, "".join(lines[end + 1 :]).strip("\n")


def _stamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def bulletin_objects(
    text: str, name: str = "bulletin", *, when: datetime | None = None
) -> list[dict[str, Any]]:
    """The STIX objects (unsigned, no created_by_ref) of a Markdown bulletin."""
    meta, body = split_front_matter(text, name)
    try:
        front = FrontMatter.model_validate(meta)
    except ValidationError as exc:
        raise InvalidInput(f"{name}: front matter {_first_error(exc)}") from exc
    now = _stamp(when or datetime.now(UTC))
    report_id = front.id or f"report--{uuid.uuid4()}"
    sharing = tuple(a for a in front.audience if a.startswith(SHARING_PREFIXES))
    labels = [a for a in front.audience if not a.startswith(SHARING_PREFIXES)]
    markings = [TLP_IDS[front.tlp]]
    objects: list[dict[str, Any]] = []
    if sharing:
        marking_id = f"marking-definition--{uuid.uuid4()}"
        objects.append(
            {
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": marking_id,
                "created": now,
                "name": f"audience of {front.title}"[:250],
                "extensions": {
                    AUDIENCE_EXTENSION_ID: {
                        "extension_type": "property-extension",
                        "audience": list(sharing),
                    }
                },
            }
        )
        markings.append(marking_id)
    elif front.tlp in ("amber", "amber+strict", "red"):
        raise InvalidInput(
            f"{name}: TLP:{front.tlp.upper()} needs an audience of sharing entries "
            "(member:…, group:…, sector:…, economy:…, kind:…)"
        )

    def common(kind: str, key: str) -> dict[str, Any]:
        return {
            "type": kind,
            "spec_version": "2.1",
            "id": f"{kind}--{uuid.uuid5(NAMESPACE, f'{report_id} {kind} {key}')}",
            "created": now,
            "modified": now,
            "object_marking_refs": list(markings),
        }

    refs: list[str] = []
    external: list[dict[str, str]] = []
    for ref in front.references:
        if ref.id is not None:
            refs.append(ref.id)
        elif ref.cve is not None:
            vulnerability = dict(
                common("vulnerability", ref.cve),
                name=ref.cve,
                external_references=[{"source_name": "cve", "external_id": ref.cve}],
            )
            if ref.description:
                vulnerability["description"] = ref.description
            objects.append(vulnerability)
            refs.append(vulnerability["id"])
        elif ref.url is not None:
            external.append(
                {
                    "source_name": ref.name or "web",
                    "url": ref.url,
                    **({"description": ref.description} if ref.description else {}),
                }
            )
        else:
            raise InvalidInput(f"{name}: a reference needs an id, a cve or a url")
    for ind in front.indicators:
        indicator = dict(
            common("indicator", ind.pattern),
            name=ind.name or ind.pattern[:200],
            pattern=ind.pattern,
            pattern_type=ind.pattern_type,
            valid_from=now,
            indicator_types=list(ind.indicator_types),
        )
        if ind.description:
            indicator["description"] = ind.description
        objects.append(indicator)
        refs.append(indicator["id"])
    if not refs:
        raise InvalidInput(
            f"{name}: a report must reference something: give references or indicators"
        )
    report: dict[str, Any] = {
        "type": "report",
        "spec_version": "2.1",
        "id": report_id,
        "created": now,
        "modified": now,
        "name": front.title,
        "published": _stamp(front.published) if front.published else now,
        "report_types": list(front.type),
        "object_refs": list(dict.fromkeys(refs)),
        "object_marking_refs": list(markings),
    }
    if body:
        report["description"] = body
    if front.language:
        report["lang"] = front.language
    if labels:
        report["labels"] = labels
    if external:
        report["external_references"] = external
    objects.append(report)  # last: what it references is stored before it
    return objects


def load_bulletin(path: str | Path) -> list[dict[str, Any]]:
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8") from exc
    return bulletin_objects(text, str(path))


def is_bulletin(path: str | Path) -> bool:
    return str(path).lower().endswith(MARKDOWN_SUFFIXES)


def _key(path: str | Path) -> SigningKey:
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return SigningKey.from_pem(pem)
    except ExchangeError as exc:
        raise InvalidInput(f"{path}: {exc.message}") from exc


def publish_cmd(args: argparse.Namespace) -> int:
    """``exchange publish`` for a Markdown bulletin, or for any file with ``--dry-run``."""
    objects = load_bulletin(args.file) if is_bulletin(args.file) else load_objects(args.file)
    if not objects:
        raise InvalidInput(f"{args.file}: holds no objects")
    key = _key(args.key)
    with ApiClient(args.url, args.token) as api:
        if args.dry_run:
            author = find_author(api.key_directory(), key.public.key_id)
            signed = prepare_objects(objects, key, author)
            bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": signed}
            sys.stdout.write(
                json.dumps(bundle, ensure_ascii=False, indent=None if args.json else 2) + "\n"
            )
            return 0
        status = publish_objects(
            api, objects, key, progress=not args.json and not args.quiet, relay=args.relay
        )
    ok = int(status.get("failure_count", 0)) == 0 and int(status.get("pending_count", 0)) == 0
    if args.json:
        sys.stdout.write(json.dumps(status) + "\n")
    else:
        sys.stdout.write(
            f"{status.get('success_count', 0)} stored, {status.get('failure_count', 0)} refused"
            + "".join(f"\n  {f['id']}: {f['message']}" for f in status.get("failures", []))
            + "\n"
        )
    return 0 if ok else 1
