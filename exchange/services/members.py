"""Members, their tokens, sharing groups, standing rules, explain and the delivery ledger."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pycountry

from exchange.crypto import new_token, token_hash
from exchange.errors import InvalidInput, NotFound
from exchange.models import (
    Delivery,
    Group,
    Member,
    MemberKind,
    MemberStatus,
    Principal,
    RuleDirection,
    RuleEffect,
    StandingRule,
    Tlp,
    Token,
    TokenScope,
)
from exchange.policy import TLP_MARKING_IDS, parse_audience_entries
from exchange.services.access import Access
from exchange.services.auth import AuthService
from exchange.services.publish import PublishService
from exchange.stix.types import INDUSTRY_SECTORS
from exchange.store.base import Store
from exchange.timeutil import format_ts, now, stix_ts

_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
INBOUND_FIELDS = ("type", "tlp", "publisher", "sector")


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
    }


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

    async def add(self, name: str, kind: str, sector: str, economy: str) -> Member:
        name = name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("a member needs a name of 1 to 200 characters")
        try:
            member_kind = MemberKind(kind)
        except ValueError as exc:
            raise InvalidInput("kind must be government or private") from exc
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
        )
        await self.store.members.add_member(member)
        await self.publish.store_own([identity_object(member)])
        return member

    async def get(self, member_id: str) -> Member:
        return await self.store.members.get_member(member_id)

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
        secret = new_token()
        created = now()
        token = Token(
            token_id=str(uuid.uuid4()),
            member=member.id,
            token_hash=token_hash(secret),
            scope=TokenScope.READ_ONLY if read_only else TokenScope.READ_WRITE,
            created=created,
            expires=created + ttl if ttl else None,
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
        self, member_id: str, direction: str, effect: str, values: list[str],
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
        else:
            if rule_effect is not RuleEffect.ONLY:
                raise InvalidInput("inbound rules are filters: only")
            if field not in INBOUND_FIELDS:
                raise InvalidInput(f"inbound rules filter on one of {', '.join(INBOUND_FIELDS)}")
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
        return {"id": stix_id, "member": member_id, "allowed": decision.allowed,
                "rule": decision.rule, "reason": decision.reason}

    async def deliveries(self, stix_id: str, publisher: Principal | None) -> list[Delivery]:
        """Who received an object; a member may ask only about its own objects."""
        facts = await self.store.objects.object_facts(stix_id)
        if not facts:
            raise NotFound(f"no object {stix_id}")
        if publisher is not None and all(f.author_identity != publisher.identity for f in facts):
            raise NotFound(f"no object {stix_id}")
        return await self.store.statuses.list_deliveries(stix_id)

