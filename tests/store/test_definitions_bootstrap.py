"""The exchange's extension definitions on both stores: stored unsigned, byte-identical to
the shipped file, once however often the exchange starts; a database from an earlier
release, which holds them signed under other versions, serves the shipped text instead."""

from __future__ import annotations

from exchange.config import Settings
from exchange.models import ObjectFilter, ReadQuery
from exchange.policy import ANONYMOUS
from exchange.schemas import definitions_text
from exchange.services.runtime import open_services
from exchange.store.base import Store
from exchange.taxii.envelope import split_array
from tests.store.conftest import StoreFactory

SHIPPED = {raw.value["id"]: raw.text for raw in split_array(definitions_text())}


async def _served(store: Store, versions: str = "last") -> list[tuple[str, str]]:
    page = await store.objects.read_objects(
        ANONYMOUS,
        ReadQuery(
            collection="public",
            filter=ObjectFilter(types=("extension-definition",), versions=(versions,)),
        ),
    )
    return sorted((o.stix_id, o.body) for o in page.objects)


async def test_definitions_are_stored_once_as_shipped(store_factory: StoreFactory) -> None:
    for _ in range(3):  # every start bootstraps; nothing is stored twice
        services = await open_services(Settings(db="sqlite:///unused.db"), store=store_factory())
        assert await _served(services.store, "all") == sorted(SHIPPED.items())
        await services.store.close()


async def test_signed_definitions_of_earlier_releases_give_way(
    store_factory: StoreFactory,
) -> None:
    services = await open_services(Settings(db="sqlite:///unused.db"), store=store_factory())
    # as earlier releases stored them: signed by the exchange, stamped at their first start
    for raw in split_array(definitions_text()):
        value = dict(
            raw.value, created="2030-01-01T00:00:00.000Z", modified="2030-01-01T00:00:00.000Z"
        )
        del value["created_by_ref"]
        await services.publish.store_own([value])
    assert await _served(services.store) != sorted(SHIPPED.items())
    await services.store.close()

    again = await open_services(Settings(db="sqlite:///unused.db"), store=store_factory())
    assert await _served(again.store) == sorted(SHIPPED.items())
    assert await _served(again.store, "all") == sorted(SHIPPED.items())
    facts = await again.store.objects.object_facts(next(iter(SHIPPED)))
    assert sorted(f.deleted for f in facts) == [False, True]  # kept, withdrawn from reads
    await again.store.close()


def test_the_definitions_name_their_author_as_the_code_does() -> None:
    import json

    from exchange.schemas import DEFINITIONS_AUTHOR, definitions_text

    authors = {d["created_by_ref"] for d in json.loads(definitions_text())}
    assert authors == {DEFINITIONS_AUTHOR}
