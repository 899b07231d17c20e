"""A member's data export (``exchange admin export MEMBER --out FILE``, docs/privacy.md):
everything the exchange holds from and about one member, as one JSON document, for an
access request. Token hashes, private keys and other secrets are never in it."""

from __future__ import annotations

import json
from typing import Any

from exchange.models import Member, Token
from exchange.services.keys import key_json
from exchange.services.members import member_json, rule_json
from exchange.store.base import Store
from exchange.timeutil import format_ts, now

EXPORT_FORMAT = "exchange-member-export/1"


def token_json(token: Token) -> dict[str, Any]:
    """A token's metadata: never its hash (nor, since the exchange never keeps it, the token)."""
    return {
        "token_id": token.token_id,
        "scope": token.scope.value,
        "created": format_ts(token.created),
        "expires": format_ts(token.expires) if token.expires else None,
        "revoked": format_ts(token.revoked) if token.revoked else None,
        "last_used": format_ts(token.last_used) if token.last_used else None,
    }


async def member_export(store: Store, member: Member) -> dict[str, Any]:
    """The export document of ``member``."""
    holdings = await store.privacy.member_holdings(member.id, member.identity)
    sealed = await store.privacy.list_sealed(member.id)
    review = await store.privacy.list_review(member_id=member.id)
    return {
        "format": EXPORT_FORMAT,
        "exported": format_ts(now()),
        "member": member_json(member),
        "groups": await store.sharing.groups_of(member.id),
        "tokens": [token_json(t) for t in await store.members.list_tokens(member.id)],
        "keys": [key_json(k) for k in await store.members.list_keys(member.id)],
        "rules": [rule_json(r) for r in await store.sharing.list_rules(member.id)],
        "objects": [dict(o) for o in holdings.objects],
        "anonymous_submissions": [
            {
                "sealed_id": r.sealed_id,
                "original_id": r.original_id,
                "original_version": r.original_version,
                "original": json.loads(r.original_body),
                "copy_id": r.copy_id,
                "copy_version": r.copy_version,
                "submitted_at": r.submitted_at,
                "released": r.released_at is not None,
            }
            for r in sealed
        ],
        "review_queue": [
            {
                "review_id": i.review_id,
                "id": i.stix_id,
                "version": i.version,
                "findings": list(i.findings),
                "submitted_at": i.submitted_at,
                "state": i.state.value,
                "decided_at": i.decided_at,
            }
            for i in review
        ],
        "deliveries_received": [d.model_dump() for d in holdings.deliveries_received],
        "deliveries_of_its_objects": [d.model_dump() for d in holdings.deliveries_of_its_objects],
        "statuses": [s.model_dump(mode="json") for s in holdings.statuses],
        "log_cosignatures": [dict(c) for c in holdings.log_cosignatures],
        "audit": [
            e.model_dump(mode="json", exclude_none=True)
            for e in await store.audit.list_audit(member=member.id)
        ],
    }
