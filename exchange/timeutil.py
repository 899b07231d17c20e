"""TAXII/STIX timestamps: UTC, RFC 3339, microsecond precision when the exchange writes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from exchange.errors import InvalidInput

# ASCII digits only: ``\d`` and ``int()`` would also take full-width or Arabic-Indic digits.
_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$", re.ASCII)


def now() -> datetime:
    return datetime.now(UTC)


def now_ms() -> datetime:
    """Now, to the millisecond: the precision of the STIX timestamps the exchange writes
    and of key validity, so that an object stamped in the millisecond its key was made is
    never dated before the key."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def stix_ts(value: datetime) -> str:
    """A STIX timestamp to the millisecond (``2026-01-02T03:04:05.678Z``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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


MIN_DURATION = timedelta(seconds=1)
MAX_DURATION = timedelta(days=3650)
DURATION_RANGE = "from 1s to 3650d"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w``: a positive count of ASCII digits and one unit,
    from 1 second to 3650 days; InvalidInput for anything else (zero, negative, absurd)."""
    match = re.fullmatch(r"([0-9]{1,12})([smhdw])", text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(f"not a duration like 90d, 12h, 30m or 2w ({DURATION_RANGE}): {text!r}")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not MIN_DURATION.total_seconds() <= seconds <= MAX_DURATION.total_seconds():
        raise InvalidInput(f"duration {text.strip()!r} is out of range: give one {DURATION_RANGE}")
    return timedelta(seconds=seconds)
