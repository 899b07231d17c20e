"""TAXII/STIX timestamps: UTC, RFC 3339, microsecond precision when the exchange writes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from exchange.errors import InvalidInput

# ASCII digits only: ``\d`` and ``int()`` would also take full-width or Arabic-Indic digits.
_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$", re.ASCII
)


def now() -> datetime:
    return datetime.now(UTC)


def format_ts(value: datetime) -> str:
    """Microsecond-precision TAXII timestamp, for date_added and the like."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    """Parse a STIX/TAXII timestamp (``Z`` required, any sub-second precision)."""
    match = _TS.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(f"not a timestamp of the form YYYY-MM-DDTHH:MM:SS[.s+]Z: {text!r}")
    year, month, day, hour, minute, second, frac = match.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC
        )
    except ValueError as exc:
        raise InvalidInput(f"not a valid timestamp: {text!r}") from exc


def normalise_ts(text: str) -> str:
    """A sortable, comparable form of a STIX timestamp (microseconds, always 27 characters)."""
    return format_ts(parse_ts(text))


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w``."""
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(f"not a duration like 90d, 12h, 30m or 2w: {text!r}")
    amount, unit = int(match.group(1)), match.group(2)
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    return timedelta(seconds=amount * seconds)
