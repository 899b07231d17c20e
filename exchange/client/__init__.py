"""The members' client: a small Python API, ``exchange publish`` and ``exchange verify``.

For members' own tools: :func:`sign` (one object, stix2 or dict) and :func:`publish`
(sign and post, returning the TAXII status, raising :class:`PublishRefused` on
refusals), from :mod:`exchange.client.api`; examples in docs/clients.md.

This package also holds what the commands share: reading STIX files, the key directory
and a small synchronous HTTP client for the TAXII API root. The commands themselves are
``publish_file`` in the module ``exchange.client.publish`` (the package attribute
``exchange.client.publish`` is the function above) and
:func:`exchange.client.verify.verify_file`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from exchange.errors import (
    ExchangeError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooLarge,
)
from exchange.strictjson import DECODER
from exchange.timeutil import parse_ts

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
API_ROOT_EXAMPLE = "http://host:8080/api/v1/"
DEFAULT_TIMEOUT = 60.0

_STATUS_ERRORS: dict[int, type[ExchangeError]] = {
    401: NotAuthenticated,
    403: PermissionDenied,
    404: NotFound,
    413: TooLarge,
}


# --- reading STIX files ---------------------------------------------------------------------


def parse_document(text: str) -> Any:
    """Parse JSON strictly (no duplicate keys, no NaN/Infinity); InvalidInput when it is not."""
    try:
        value, end = DECODER.raw_decode(text, len(text) - len(text.lstrip()))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:  # duplicate keys, NaN, Infinity
        raise InvalidInput(str(exc)) from exc
    if text[end:].strip():
        raise InvalidInput("not JSON: extra data after the document")
    return value


def objects_from_document(document: Any) -> list[dict[str, Any]]:
    """The STIX objects of a bundle, a TAXII envelope, a JSON list or a single object."""
    if isinstance(document, list):
        objects: Any = document
    elif not isinstance(document, dict):
        raise InvalidInput("expected a STIX bundle, a TAXII envelope or a STIX object")
    elif document.get("type") == "bundle":
        objects = document.get("objects", [])
    elif "type" not in document and "objects" in document:
        objects = document["objects"]
    elif "type" in document and "id" in document:
        objects = [document]
    else:
        raise InvalidInput("expected a STIX bundle, a TAXII envelope or a STIX object")
    if not isinstance(objects, list):
        raise InvalidInput("'objects' is not a list")
    for index, obj in enumerate(objects):
        if not (
            isinstance(obj, dict)
            and isinstance(obj.get("type"), str)
            and isinstance(obj.get("id"), str)
        ):
            raise InvalidInput(f"object #{index + 1} is not a STIX object with a type and an id")
    return objects


def load_objects(path: str | Path) -> list[dict[str, Any]]:
    """Read a STIX file and return its objects; InvalidInput when it cannot be used."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        # utf-8-sig: editors on some systems write a byte-order mark; it is not part of the JSON.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8") from exc
    try:
        return objects_from_document(parse_document(text))
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc.message}") from exc


# --- the key directory ----------------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryKey:
    """One entry of the key directory (``GET {api_root}/keys/``)."""

    key_id: str
    member: str | None
    identity: str
    public_key: str
    not_before: datetime
    not_after: datetime | None
    revoked_since: datetime | None


def _optional_ts(value: Any) -> datetime | None:
    return None if value is None else parse_ts(value)


def parse_key_directory(body: Any) -> list[DirectoryKey]:
    """The keys of a key directory answer ``{"keys": [...]}``; ExchangeError when malformed."""
    entries = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ExchangeError("the key directory answer has no 'keys' list")
    keys: list[DirectoryKey] = []
    for entry in entries:
        try:
            keys.append(
                DirectoryKey(
                    key_id=str(entry["key_id"]),
                    member=None if entry.get("member") is None else str(entry["member"]),
                    identity=str(entry["identity"]),
                    public_key=str(entry["public_key"]),
                    not_before=parse_ts(entry["not_before"]),
                    not_after=_optional_ts(entry.get("not_after")),
                    revoked_since=_optional_ts(entry.get("revoked_since")),
                )
            )
        except (KeyError, TypeError, InvalidInput) as exc:
            raise ExchangeError(f"the key directory has a malformed entry: {exc}") from exc
    return keys


# --- HTTP -----------------------------------------------------------------------------------


class Unreachable(ExchangeError):
    """No answer from the URL at all (refused, unknown host, timed out)."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def error_message(method: str, url: str, status: int, body: Any) -> str:
    """A one-line message for an HTTP error, from a TAXII error body when there is one."""
    message = f"{method} {url}: HTTP {status}"
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("title", "description") if body.get(k)]
        if parts:
            message += ": " + ": ".join(parts)
    return _one_line(message)


class ApiClient:
    """A synchronous client for one TAXII API root, authenticated with a bearer token."""

    def __init__(self, api_root_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not api_root_url.lower().startswith(("http://", "https://")):
            raise InvalidInput(
                f"{api_root_url!r} is not an http(s) URL: expected an API root such as "
                f"{API_ROOT_EXAMPLE}"
            )
        if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
            raise InvalidInput("the API token must be printable ASCII without spaces")
        self.base = api_root_url.rstrip("/") + "/"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "Accept": TAXII_MEDIA_TYPE}
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.session.close()

    def url(self, path: str) -> str:
        """The URL of ``path`` below the API root (``""`` is the API root itself)."""
        return self.base + path.lstrip("/")

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        """Send a request and return the decoded JSON answer; ExchangeError on any failure."""
        url = self.url(path)
        headers = {"Content-Type": TAXII_MEDIA_TYPE} if body is not None else {}
        try:
            response = self.session.request(
                method, url, data=body, headers=headers, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise Unreachable(f"{method} {url}: no answer within {self.timeout:g}s") from exc
        except requests.ConnectionError as exc:
            # Not urllib3's internals: what the user can act on.
            raise Unreachable(
                f"cannot reach {self.base} (is the exchange running there, and the URL right?)"
            ) from exc
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ) as exc:
            raise InvalidInput(
                f"{self.base} is not a usable URL: expected an API root such as {API_ROOT_EXAMPLE}"
            ) from exc
        except requests.RequestException as exc:
            raise ExchangeError(f"{method} {url}: {type(exc).__name__}") from exc
        try:
            answer: Any = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400:
            error = _STATUS_ERRORS.get(response.status_code, ExchangeError)
            raise error(error_message(method, url, response.status_code, answer))
        if answer is None:
            raise ExchangeError(
                f"{method} {url}: the answer is not JSON (is {self.base} a TAXII API root, "
                f"such as {API_ROOT_EXAMPLE}?)"
            )
        return answer

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: bytes) -> Any:
        return self.request("POST", path, body)

    def api_root(self) -> dict[str, Any]:
        """The API root's information; ExchangeError when the URL is not a TAXII API root."""
        not_root = ExchangeError(
            f"{self.base} is not a TAXII API root: expected an API root such as {API_ROOT_EXAMPLE}"
        )
        try:
            answer = self.get("")
        except (NotAuthenticated, PermissionDenied, Unreachable, InvalidInput):
            raise
        except ExchangeError as exc:  # 404, another error status, an answer that is not JSON
            raise not_root from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("versions"), list):
            raise not_root
        return answer

    def key_directory(self) -> list[DirectoryKey]:
        return parse_key_directory(self.get("keys/"))

    def caller_identity(self) -> str:
        """The STIX identity of the member the token belongs to (``GET whoami/``)."""
        answer = self.get("whoami/")
        identity = answer.get("identity") if isinstance(answer, dict) else None
        if not isinstance(identity, str):
            raise ExchangeError(f"{self.url('whoami/')} did not say whose token this is")
        return identity


# The members' Python API (docs/clients.md); imported last: it builds on the above.
from exchange.client.api import PublishRefused, publish, sign  # noqa: E402

__all__ = [
    "ApiClient",
    "DirectoryKey",
    "PublishRefused",
    "load_objects",
    "objects_from_document",
    "publish",
    "sign",
]
