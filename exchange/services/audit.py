"""Refused requests into the audit log, without letting a flood of them become a flood of writes.

A request refused 401, 403 or 429, and an envelope some of whose objects were refused, is
noted here (``refused``: no I/O, never awaits) and written to the audit log in batches by a
background job. Repeats are coalesced per (who, what, why) per window: the first one of a
window is written as it is, and when the window closes one more entry says how many times it
came again. At most ``max_keys`` different (who, what, why) are kept per window; past that,
one entry per window counts what was left out. So a window costs at most
``2 * max_keys + 1`` rows, whatever arrives.

What is noted: who (``member:<id>``, else ``address:<ip>``), the method and the route
template (never the raw path or query), the status and the refusal's message. Never a token,
a header or a body.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from exchange.models import AuditEntry, AuditOutcome
from exchange.services.periodic import Periodic
from exchange.store.base import Store
from exchange.timeutil import format_ts, now

log = structlog.get_logger("exchange.audit")

MAX_REASON = 300


@dataclass
class _Seen:
    first: AuditEntry
    repeats: int = 0
    last_at: str = ""


def printable_reason(text: str) -> str:
    """The message as one short printable line (a message may quote what the caller sent)."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)
    return cleaned[:MAX_REASON]


class RefusalAudit:
    """Buffers refused requests and writes them in batches, coalesced per window."""

    def __init__(
        self,
        store: Store,
        window_seconds: float = 60.0,
        flush_seconds: float = 1.0,
        max_keys: int = 1000,
    ) -> None:
        self.store = store
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._window = self._current()
        self._seen: dict[tuple[str, str, str], _Seen] = {}
        self._dropped = 0
        self._pending: list[AuditEntry] = []
        self._job = Periodic("audit-refusals", self.flush, flush_seconds)

    def _current(self) -> int:
        return int(time.monotonic() // self.window_seconds)

    def _close_window(self) -> None:
        """The window's summaries go to the pending batch; a new window starts."""
        for seen in self._seen.values():
            if seen.repeats:
                self._pending.append(
                    seen.first.model_copy(
                        update={
                            "at": seen.last_at,
                            "details": {
                                **seen.first.details,
                                "repeats": str(seen.repeats),
                                "window_seconds": f"{self.window_seconds:g}",
                            },
                        }
                    )
                )
        if self._dropped:
            self._pending.append(
                AuditEntry(
                    at=format_ts(now()),
                    actor="exchange",
                    action="audit",
                    outcome=AuditOutcome.REFUSED,
                    reason=f"{self._dropped} refused requests not recorded one by one: more "
                    f"than {self.max_keys} different callers and reasons in one window",
                    details={"dropped": str(self._dropped)},
                )
            )
        self._seen, self._dropped = {}, 0
        self._window = self._current()

    def refused(
        self,
        actor: str,
        action: str,
        reason: str,
        *,
        member: str | None = None,
        target: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        """Note one refusal (cheap: no I/O)."""
        if self._current() != self._window:
            self._close_window()
        reason = printable_reason(reason)
        key = (actor, action, reason)
        at = format_ts(now())
        seen = self._seen.get(key)
        if seen is not None:
            seen.repeats += 1
            seen.last_at = at
            return
        if len(self._seen) >= self.max_keys:
            self._dropped += 1
            return
        entry = AuditEntry(
            at=at,
            actor=actor,
            action=action,
            target=target,
            member=member,
            outcome=AuditOutcome.REFUSED,
            reason=reason,
            details=details or {},
        )
        self._seen[key] = _Seen(first=entry, last_at=at)
        self._pending.append(entry)

    async def flush(self) -> None:
        """Write what is pending in one transaction (on failure it is tried again next time)."""
        if self._current() != self._window:
            self._close_window()
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await self.store.audit.record_audit(batch)
        except BaseException:
            self._pending = batch + self._pending
            if len(self._pending) > 4 * self.max_keys:  # the store away for long: keep the newest
                del self._pending[: len(self._pending) - 4 * self.max_keys]
            raise

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        """Stop the job; what was noted, the open window's repeats too, is written."""
        await self._job.stop()
        self._close_window()
        try:
            await self.flush()
        except Exception as exc:  # closing down with the store away: say so, do not fail
            log.warning("refused requests not written to the audit log", error=str(exc))
