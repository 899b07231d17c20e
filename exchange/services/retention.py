"""Retention (docs/privacy.md): object versions, sealed records and review items are kept for
the periods of the configuration, then purged from every read path and the sealed records;
the transparency log keeps their leaves' hashes only.

A version's periods: its TLP's (``tlp_days``), its publisher's (``member_days``; for an
anonymous copy, its author's, known from the sealed record), each from its ``date_added``,
and for an indicator with ``valid_until``, ``indicator_days_after_valid_until`` from that.
The first to elapse purges it. The exchange's own objects (its identities, member identities,
extension definitions) and marking definitions are kept."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from exchange.config import RetentionSettings
from exchange.errors import InvalidInput
from exchange.models import NewObject, PurgeResult, Tlp
from exchange.services.periodic import Periodic
from exchange.store.base import Store
from exchange.timeutil import format_ts, now, parse_ts

log = structlog.get_logger("exchange.retention")

KEPT_TYPES = frozenset({"marking-definition", "extension-definition"})


@dataclass
class PurgePlan:
    """What a purge removes (or, dry, would remove)."""

    versions: list[tuple[int, str, str, str]] = field(default_factory=list)  # seq, id, version, why
    sealed: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "versions": [{"id": i, "version": v, "expired": why} for _, i, v, why in self.versions],
            "sealed": list(self.sealed),
            "review": list(self.review),
        }


class RetentionService:
    def __init__(self, store: Store, rules: RetentionSettings, exchange_identity: str) -> None:
        self.store = store
        self.rules = rules
        self.exchange_identity = exchange_identity

    @property
    def active(self) -> bool:
        r = self.rules
        return bool(r.tlp_days or r.member_days or r.indicator_days_after_valid_until is not None)

    async def _member_days(self) -> dict[str, int]:
        """identity -> days, from the member names or ids of the configuration."""
        members = await self.store.members.list_members()
        out: dict[str, int] = {}
        for key, days in self.rules.member_days.items():
            member = next((m for m in members if key in (m.id, m.name, m.identity)), None)
            if member is None:
                raise InvalidInput(f"retention.member_days: no member {key!r}")
            out[member.identity] = days
        return out

    def _expired(
        self,
        at: datetime,
        tlp: Tlp | None,
        since: str,
        member_days: int | None,
        valid_until: str | None,
    ) -> str | None:
        """Why a version (or a sealed copy) is past its retention at ``at``, or None."""
        start = parse_ts(since)
        if tlp is not None and tlp.value in self.rules.tlp_days:
            days = self.rules.tlp_days[tlp.value]
            if at >= start + timedelta(days=days):
                return f"tlp {tlp.value}: {days} days"
        if member_days is not None and at >= start + timedelta(days=member_days):
            return f"member: {member_days} days"
        after = self.rules.indicator_days_after_valid_until
        if after is not None and valid_until is not None:
            try:
                until = parse_ts(valid_until)
            except InvalidInput:
                return None
            if at >= until + timedelta(days=after):
                return f"indicator: {after} days after valid_until"
        return None

    async def plan(self, at: datetime | None = None) -> PurgePlan:
        at = at or now()
        plan = PurgePlan()
        if not self.active:
            return plan
        by_member = await self._member_days()
        sealed = await self.store.privacy.list_sealed()
        author_of_copy = {r.copy_id: r.author_identity for r in sealed}
        for v in await self.store.privacy.retained_versions():
            if v.type in KEPT_TYPES or v.author_identity == self.exchange_identity:
                continue
            author = author_of_copy.get(v.stix_id, v.author_identity)
            why = self._expired(at, v.tlp, v.date_added, by_member.get(author or ""), v.valid_until)
            if why is not None:
                plan.versions.append((v.seq, v.stix_id, v.version, why))
        for r in sealed:
            if r.released_at is None and self._expired_object(
                at, r.copy_object, r.submitted_at, by_member.get(r.author_identity)
            ):
                plan.sealed.append(r.sealed_id)
        for item in await self.store.privacy.list_review():
            if self._expired_object(
                at, item.object, item.submitted_at, by_member.get(item.object.author_identity or "")
            ):
                plan.review.append(item.review_id)
        return plan

    def _expired_object(
        self, at: datetime, obj: NewObject, since: str, member_days: int | None
    ) -> bool:
        valid_until = None
        if obj.type == "indicator":
            found = json.loads(obj.body).get("valid_until")
            valid_until = found if isinstance(found, str) else None
        return self._expired(at, obj.tlp, since, member_days, valid_until) is not None

    async def purge(self, dry_run: bool = False) -> tuple[PurgePlan, PurgeResult]:
        plan = await self.plan()
        if dry_run or not (plan.versions or plan.sealed or plan.review):
            return plan, PurgeResult()
        done = await self.store.privacy.purge(
            [seq for seq, _, _, _ in plan.versions], plan.sealed, plan.review
        )
        log.info(
            "purged",
            versions=done.versions,
            sealed=done.sealed,
            review=done.review,
            at=format_ts(now()),
        )
        return plan, done

    def periodic(self) -> Periodic:
        """The daily purge, for the housekeeping loop."""

        async def run() -> None:
            if self.active:
                await self.purge()

        return Periodic("retention", run, self.rules.purge_every_hours * 3600, run_first=True)
