"""Members, their tokens, sharing groups, standing rules, explain and the delivery ledger."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pycountry
from stix2.v21.vocab import INDUSTRY_SECTOR

from exchange.crypto import new_token, token_hash
from exchange.errors import InvalidInput, NotFound
from exchange.models import (
    Delivery,
    Group,
    Member,
    MemberKind,
    MemberStatus,
    Principal,
    ReadQuery,
    RuleDirection,
    RuleEffect,
    ShareLevel,
    StandingRule,
    Tlp,
    Token,
    TokenScope,
)
from exchange.policy import TLP_MARKING_IDS, parse_audience_entries
from exchange.schemas import DEFINITIONS_AUTHOR
from exchange.services.access import Access
from exchange.services.auth import AuthService
from exchange.services.publish import PublishService
from exchange.stix.types import INDUSTRY_SECTORS, STIX_TYPES
from exchange.store.base import Store
from exchange.timeutil import DURATION_RANGE, MAX_DURATION, MIN_DURATION, format_ts, now, stix_ts

_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
INBOUND_FIELDS = ("type", "tlp", "publisher", "sector")
# Custom types are accepted in inbound rules when they follow STIX's custom naming (``x-…``).
_CUSTOM_TYPE = re.compile(r"^x-[a-z0-9][a-z0-9-]{0,245}$")
READ_SUMMARY_PAGE = 1000


def member_json(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "identity": member.identity,
        "name": member.name,
        "kind": member.kind.value,
        "sector": member.sector,
        "economy": member.economy,
        "status": member.status.value,
        "created": format_ts(member.created),
    } | ({"share": member.share.value} if member.share else {})


def rule_json(rule: StandingRule) -> dict[str, Any]:
    return {
        "rule_id": rule.rule_id,
        "member": rule.member,
        "direction": rule.direction.value,
        "effect": rule.effect.value,
        "field": rule.field,
        "values": list(rule.values),
        "created": format_ts(rule.created),
    }


def identity_object(member: Member) -> dict[str, Any]:
    """The STIX identity the exchange publishes (TLP:GREEN) for a member."""
    stamp = stix_ts(member.created)
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": member.identity,
        "created": stamp,
        "modified": stamp,
        "name": member.name,
        "identity_class": "organization",
        "sectors": [member.sector],
        "roles": [member.kind.value],
        "description": f"{member.kind.value.capitalize()} member of the exchange, economy "
        f"{member.economy}",
        "object_marking_refs": [TLP_MARKING_IDS[Tlp.GREEN]],
    }


class MemberService:
    def __init__(self, store: Store, publish: PublishService) -> None:
        self.store = store
        self.publish = publish

    async def add(
        self, name: str, kind: str, sector: str, economy: str, share: str | None = None
    ) -> Member:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("a member needs a name of 1 to 200 characters")
        try:
            member_kind = MemberKind(kind)
        except ValueError as exc:
            raise InvalidInput("kind must be government, private or exchange") from exc
        share_level: ShareLevel | None = None
        if member_kind is MemberKind.EXCHANGE:
            try:
                share_level = ShareLevel(share or ShareLevel.CLEAR.value)
            except ValueError as exc:
                raise InvalidInput("share must be clear or green") from exc
        elif share is not None:
            raise InvalidInput("--share is for peer exchanges (--kind exchange) only")
        if sector not in INDUSTRY_SECTORS:
            raise InvalidInput(
                f"sector {sector!r} is not a STIX 2.1 industry-sector-ov value; use one of: "
                + ", ".join(INDUSTRY_SECTORS)
            )
        country = pycountry.countries.get(alpha_2=economy.upper()) if len(economy) == 2 else None
        if country is None:
            raise InvalidInput(f"economy {economy!r} is not an ISO 3166-1 alpha-2 code")
        member = Member(
            id=str(uuid.uuid4()),
            identity=f"identity--{uuid.uuid4()}",
            name=name,
            kind=member_kind,
            sector=sector,
            economy=country.alpha_2,
            created=now(),
            share=share_level,
        )
        await self.store.members.add_member(member)
        await self.publish.store_own([identity_object(member)])
        return member

    async def get(self, member_id: str) -> Member:
        return await self.store.members.get_member(member_id)

    async def resolve(self, ref: str) -> Member:
        """A member by its id, its identity or its name (exact, else unique ignoring case)."""
        members = await self.store.members.list_members()
        for attribute in ("id", "identity", "name"):
            found = [m for m in members if getattr(m, attribute) == ref]
            if found:
                return found[0]
        folded = [m for m in members if m.name.casefold() == ref.strip().casefold()]
        if len(folded) > 1:
            names = ", ".join(sorted(m.name for m in folded))
            raise InvalidInput(f"member name {ref!r} is ambiguous ({names}): give the id")
        if not folded:
            raise NotFound(f"no member {ref!r} (give a member id or name)")
        return folded[0]

    async def list_members(self) -> list[Member]:
        return await self.store.members.list_members()

    async def suspend(self, member_id: str) -> Member:
        return await self.store.members.set_member_status(member_id, MemberStatus.SUSPENDED)

    async def reinstate(self, member_id: str) -> Member:
        return await self.store.members.set_member_status(member_id, MemberStatus.ACTIVE)

    # --- tokens -------------------------------------------------------------------------------

    async def issue_token(
        self, member_id: str, ttl: timedelta | None, read_only: bool
    ) -> tuple[Token, str]:
        member = await self.store.members.get_member(member_id)
        if member.status is not MemberStatus.ACTIVE:
            raise InvalidInput(f"member {member_id} is suspended")
        if ttl is not None and not MIN_DURATION <= ttl <= MAX_DURATION:
            raise InvalidInput(f"a token's lifetime must be {DURATION_RANGE}, or never")
        secret = new_token()
        created = now()
        token = Token(
            token_id=str(uuid.uuid4()),
            member=member.id,
            token_hash=token_hash(secret),
            scope=TokenScope.READ_ONLY if read_only else TokenScope.READ_WRITE,
            created=created,
            expires=created + ttl if ttl is not None else None,
        )
        await self.store.members.add_token(token)
        return token, secret

    async def revoke_token(self, token_id: str) -> Token:
        return await self.store.members.revoke_token(token_id, format_ts(now()))

    # --- groups -------------------------------------------------------------------------------

    async def create_group(self, name: str) -> Group:
        if not _GROUP.match(name):
            raise InvalidInput(
                f"group name {name!r}: letters, digits, '.', '_' and '-', up to 64 characters"
            )
        await self.store.sharing.create_group(name, format_ts(now()))
        return await self.store.sharing.get_group(name)

    async def add_to_group(self, name: str, member_id: str) -> Group:
        return await self.store.sharing.add_group_member(name, member_id)

    async def groups(self) -> list[Group]:
        return await self.store.sharing.list_groups()

    # --- standing rules -----------------------------------------------------------------------

    async def add_rule(
        self,
        member_id: str,
        direction: str,
        effect: str,
        values: list[str],
        field: str | None = None,
    ) -> StandingRule:
        member = await self.store.members.get_member(member_id)
        try:
            rule_direction = RuleDirection(direction)
            rule_effect = RuleEffect(effect)
        except ValueError as exc:
            raise InvalidInput(f"unknown rule direction or effect: {exc}") from exc
        if not values:
            raise InvalidInput("a rule needs at least one value")
        if rule_direction is RuleDirection.OUTBOUND:
            if rule_effect not in (RuleEffect.REQUIRE, RuleEffect.DENY):
                raise InvalidInput("outbound rules are require or deny")
            parse_audience_entries(values)
            field = None
        elif rule_direction is RuleDirection.SUBMISSION:
            # how the exchange takes the member's posts: anonymous by default, or personal
            # data found by PII screening held for review instead of refused (docs/privacy.md)
            wanted = {RuleEffect.ANONYMOUS: ["default"], RuleEffect.REVIEW: ["pii"]}
            if rule_effect not in wanted or values != wanted[rule_effect]:
                raise InvalidInput("submission rules are anonymous (default) or review (pii)")
            field = None
        else:
            if rule_effect is not RuleEffect.ONLY:
                raise InvalidInput("inbound rules are filters: only")
            if field not in INBOUND_FIELDS:
                raise InvalidInput(f"inbound rules filter on one of {', '.join(INBOUND_FIELDS)}")
            values = await self._inbound_values(field, values)
        rule = StandingRule(
            rule_id=str(uuid.uuid4()),
            member=member.id,
            direction=rule_direction,
            effect=rule_effect,
            field=field,
            values=tuple(values),
            created=now(),
        )
        await self.store.sharing.add_rule(rule, member.identity)
        return rule

    def _own_name(self, identity: str) -> str | None:
        if identity == self.publish.exchange_identity:
            return "the exchange"
        anonymous = self.publish.anonymous
        if anonymous and identity == anonymous.identity:
            return "anonymous source"
        # The extension definitions name the project as their creator (schemas/).
        return "extension definitions" if identity == DEFINITIONS_AUTHOR else None

    async def _inbound_values(self, field: str, values: list[str]) -> list[str]:
        """The values of an inbound rule, checked and normalised (a publisher's identity)."""
        if field == "tlp":
            known = [t.value for t in Tlp]
            tlps = [v.strip().lower().removeprefix("tlp:") for v in values]
            bad = [v for v, t in zip(values, tlps, strict=True) if t not in known]
            if bad:
                raise InvalidInput(f"not a TLP: {', '.join(bad)} (use {', '.join(known)})")
            return tlps
        if field == "type":
            bad = [v for v in values if v not in STIX_TYPES and not _CUSTOM_TYPE.match(v)]
            if bad:
                raise InvalidInput(
                    f"not a STIX 2.1 object type: {', '.join(bad)} (e.g. indicator, report, "
                    "malware; custom types begin with x-)"
                )
            return values
        if field == "publisher":
            identities = []
            exchange_identity = self.publish.exchange_identity
            for value in values:
                if value in ("exchange", exchange_identity):
                    identities.append(exchange_identity)
                    continue
                anonymous = self.publish.anonymous
                if anonymous is not None and value in ("anonymous", anonymous.identity):
                    identities.append(anonymous.identity)
                    continue
                try:
                    identities.append((await self.resolve(value)).identity)
                except NotFound as exc:
                    raise InvalidInput(
                        f"no publisher {value!r}: give a member's id, name or identity"
                    ) from exc
            return identities
        # sector: STIX's industry-sector-ov, or the sector of a member the exchange has
        sectors = set(INDUSTRY_SECTOR) | {m.sector for m in await self.store.members.list_members()}
        bad = [v for v in values if v not in sectors]
        if bad:
            raise InvalidInput(
                f"not a sector: {', '.join(bad)} (STIX industry-sector-ov, e.g. government, "
                "financial-services)"
            )
        return values

    async def rules(self, member_id: str | None = None) -> list[StandingRule]:
        return await self.store.sharing.list_rules(member_id)

    async def delete_rule(self, rule_id: str) -> None:
        await self.store.sharing.delete_rule(rule_id)

    # --- explain and deliveries ---------------------------------------------------------------

    async def explain(self, stix_id: str, member_id: str, auth: AuthService) -> dict[str, Any]:
        """Whether ``member_id`` may read ``stix_id`` and which row of the decision table
        decides (for the latest version it may read, else for the latest live version)."""
        reader: Principal = await auth.for_member(member_id)
        versions = await self.store.objects.object_facts(stix_id)
        if not versions:
            raise NotFound(f"no object {stix_id}")
        decision = await Access(self.store).reads(reader, versions)
        return {
            "id": stix_id,
            "member": member_id,
            "allowed": decision.allowed,
            "rule": decision.rule,
            "reason": decision.reason,
        }

    async def read_summary(self, member_id: str, auth: AuthService) -> dict[str, Any]:
        """What ``member_id`` reads of ``bulletins`` now (latest versions): counts by TLP and
        by publisher, and the standing rules that shape it (its own inbound filters; the
        outbound rules of the publishers it reads)."""
        reader: Principal = await auth.for_member(member_id)
        by_tlp: dict[str, int] = {}
        by_author: dict[str, int] = {}
        total, after = 0, 0
        while True:
            page = await self.store.objects.read_objects(
                reader,
                ReadQuery(collection="bulletins", after_seq=after, limit=READ_SUMMARY_PAGE),
                with_body=False,
            )
            for obj in page.objects:
                total += 1
                tlp = obj.tlp.value if obj.tlp is not None else "none"
                by_tlp[tlp] = by_tlp.get(tlp, 0) + 1
                author = obj.author_identity or "none"
                by_author[author] = by_author.get(author, 0) + 1
            if not page.more or not page.objects:
                break
            after = page.objects[-1].seq
        members = {m.identity: m for m in await self.store.members.list_members()}
        publishers = []
        for identity, count in sorted(by_author.items(), key=lambda kv: (-kv[1], kv[0])):
            member = members.get(identity)
            name = member.name if member is not None else self._own_name(identity)
            publishers.append(
                {
                    "identity": identity,
                    "member": member.id if member else None,
                    "name": name,
                    "objects": count,
                }
            )
        # In force on what it reads: its own inbound filters, and every publisher's outbound
        # rules (they decide whom each publisher's objects reach).
        rules = [
            r
            for r in await self.store.sharing.list_rules()
            if (r.member == member_id and r.direction is RuleDirection.INBOUND)
            or r.direction is RuleDirection.OUTBOUND
        ]
        return {
            "member": member_id,
            "objects": total,
            "by_tlp": {t.value: by_tlp.get(t.value, 0) for t in Tlp}
            | ({"none": by_tlp["none"]} if "none" in by_tlp else {}),
            "by_publisher": publishers,
            "rules": [rule_json(r) for r in rules],
        }

    async def deliveries(self, stix_id: str, publisher: Principal | None) -> list[Delivery]:
        """Who received an object; a member may ask only about its own objects."""
        facts = await self.store.objects.object_facts(stix_id)
        if not facts:
            raise NotFound(f"no object {stix_id}")
        if publisher is not None and all(f.author_identity != publisher.identity for f in facts):
            raise NotFound(f"no object {stix_id}")
        return await self.store.statuses.list_deliveries(stix_id)
