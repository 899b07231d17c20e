"""The exchange's own signed objects are never dated before its own key (keys and objects share one
time precision, the millisecond), on any fresh database."""

from __future__ import annotations

import json
from pathlib import Path

from exchange.config import Settings
from exchange.crypto import signature_block
from exchange.models import ObjectFilter, ReadQuery
from exchange.policy import ANONYMOUS
from exchange.services.runtime import open_services
from exchange.timeutil import parse_ts


async def test_own_objects_are_never_dated_before_the_exchange_key(tmp_path: Path) -> None:
    for n in range(20):
        services = await open_services(Settings(db=f"sqlite:///{tmp_path / f'{n}.db'}"))
        try:
            # the exchange's keys: its own, and its anonymous source's
            keys = {
                k.key_id: k for k in await services.store.members.list_keys() if k.member is None
            }
            page = await services.store.objects.read_objects(
                ANONYMOUS, ReadQuery(collection="public", filter=ObjectFilter(), limit=100)
            )
            assert page.objects
            signed = [o for o in page.objects if signature_block(json.loads(o.body))]
            assert signed  # its identity, at least (its extension definitions are unsigned)
            for obj in signed:
                key = keys[str(signature_block(json.loads(obj.body))["key_id"])]  # type: ignore[index]
                assert parse_ts(obj.version) >= key.not_before, (
                    obj.stix_id,
                    obj.version,
                    key.not_before,
                )
        finally:
            await services.store.close()
