"""The one error root of the exchange.

Services and stores raise these; only the web middleware and the CLI turn them
into HTTP answers or exit codes. Nothing here knows about HTTP.
"""

from __future__ import annotations

from enum import StrEnum


class ExchangeError(Exception):
    """Root of every error the exchange raises on purpose."""

    title = "Exchange error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ExchangeError):
    """The caller sent something malformed (a bad filter, a bad envelope, a bad argument)."""

    title = "Bad request"


class Unprocessable(ExchangeError):
    """Well-formed input that cannot be acted on (for example an envelope of invalid STIX)."""

    title = "Unprocessable content"


class NotAuthenticated(ExchangeError):
    """No credentials, or credentials that are unknown, expired, revoked or suspended.

    ``member``: whose the refused credentials were, when that is known (a revoked or expired
    token, a suspended member's), for the per-member limit on failed authentication."""

    title = "Authentication required"

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member


class PermissionDenied(ExchangeError):
    """An authenticated caller that may not do this."""

    title = "Forbidden"


class NotFound(ExchangeError):
    """Nothing there, or nothing this caller may see (the two are never told apart)."""

    title = "Not found"


class Conflict(ExchangeError):
    """The request contradicts what is stored (a duplicate name, for example)."""

    title = "Conflict"


class NotAcceptable(ExchangeError):
    """The Accept header asks for a media type the exchange does not serve."""

    title = "Not acceptable"


class UnsupportedMediaType(ExchangeError):
    """The request body is not in a media type the exchange accepts."""

    title = "Unsupported media type"


class TooLarge(ExchangeError):
    """The request body exceeds max_content_length."""

    title = "Content too large"


class RequestTimeout(ExchangeError):
    """The client did not send its request (its body) in time."""

    title = "Request timeout"


class StoreUnavailable(ExchangeError):
    """The database cannot be reached or is not migrated (a moment later it may be)."""

    title = "Service unavailable"
    retry_after = 5


class StorageFull(StoreUnavailable):
    """The database has no room left to write; reads still work."""

    title = "Insufficient storage"


class SignatureError(ExchangeError):
    """A signature that does not verify, or signing material that cannot be used."""

    title = "Signature error"


class LogCorrupt(ExchangeError):
    """The transparency log lacks a node or leaf it must hold: the store was tampered with."""

    title = "Transparency log incomplete"


class RateLimited(ExchangeError):
    """Too many requests from one caller in the current window."""

    title = "Too many requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RefusalCode(StrEnum):
    """Why the publish pipeline refused one object: stable codes, listed in docs/sharing.md.

    A status resource's failure ``message`` begins with the code in brackets."""

    INVALID_STRUCTURE = "invalid-structure"
    INVALID_TIMESTAMP = "invalid-timestamp"
    INVALID_STIX = "invalid-stix"
    INVALID_TEXT = "invalid-text"
    TOO_DEEP = "too-deep"
    TLP_BUILT_IN = "tlp-built-in"
    UNSIGNED = "unsigned"
    KEY_UNKNOWN = "key-unknown"
    KEY_NOT_AUTHOR = "key-not-author"
    KEY_NOT_VALID = "key-not-valid"
    KEY_REVOKED = "key-revoked"
    SIGNATURE_INVALID = "signature-invalid"
    SIGNATURE_EXTENSION_INVALID = "signature-extension-invalid"
    AUTHOR_MISSING = "author-missing"
    OBSERVABLE_AUTHOR = "observable-author"
    AUTHOR_UNKNOWN = "author-unknown"
    AUTHOR_SUSPENDED = "author-suspended"
    ID_TAKEN = "id-taken"
    VERSION_CONFLICT = "version-conflict"
    MARKING_REFS_INVALID = "marking-refs-invalid"
    TLP_MISSING = "tlp-missing"
    MARKING_IMMUTABLE = "marking-immutable"
    AUDIENCE_REQUIRED = "audience-required"
    AUDIENCE_INVALID = "audience-invalid"
    AUDIENCE_UNKNOWN = "audience-unknown"
    AUDIENCE_FOREIGN = "audience-foreign"
    AUDIENCE_MULTIPLE = "audience-multiple"
    RED_AUDIENCE = "red-audience"
    RELAY_STRICT = "relay-strict"
    RELAY_TLP = "relay-tlp"
    RELAY_UNREADABLE = "relay-unreadable"
    ANONYMOUS_UNSUPPORTED = "anonymous-unsupported"
    ANONYMOUS_NAMES_AUTHOR = "anonymous-names-author"
    ANONYMOUS_OUTBOUND = "anonymous-outbound"
    PII_FOUND = "pii-found"


class Refusal(InvalidInput):
    """One object refused for a reason with a stable code."""

    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def text(self) -> str:
        """The status resource's failure message: ``[code] message``."""
        return f"[{self.code.value}] {self.message}"


class PeerMisbehaving(ExchangeError):
    """A peer exchange answered what its own proofs contradict (a forked or shrunk log, a
    head its log key did not sign) or what is not an answer at all: nothing is imported."""

    title = "Peer misbehaving"
