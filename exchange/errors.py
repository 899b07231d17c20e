"""The one error root of the exchange.

Services and stores raise these; only the web middleware and the CLI turn them
into HTTP answers or exit codes. Nothing here knows about HTTP.
"""

from __future__ import annotations


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
    """No credentials, or credentials that are unknown, expired, revoked or suspended."""

    title = "Authentication required"


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


class StoreUnavailable(ExchangeError):
    """The database cannot be reached or is not migrated."""

    title = "Service unavailable"


class SignatureError(ExchangeError):
    """A signature that does not verify, or signing material that cannot be used."""

    title = "Signature error"


class RateLimited(ExchangeError):
    """Too many requests from one caller in the current window."""

    title = "Too many requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
