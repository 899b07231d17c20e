"""Federation endpoints beside TAXII: the proofs this exchange keeps that what it imported
is in the log of the peer it came from, and the heads of its peers' logs it saw, for other
exchanges to compare with theirs (docs/federation.md)."""

from __future__ import annotations

from aiohttp import web

from exchange.errors import InvalidInput, NotAuthenticated, NotFound
from exchange.models import ObjectFilter, ReadQuery
from exchange.taxii.media import check_accept
from exchange.timeutil import normalise_ts
from exchange.web.keys import SERVICES, principal_of
from exchange.web.taxii import API_ROOT, taxii_response

routes = web.RouteTableDef()


@routes.get(API_ROOT + "federation/proofs/")
async def proofs(request: web.Request) -> web.Response:
    """``?id=…&version=…`` -> ``{"id", "version", "proofs": [{"peer", "exchange",
    "leaf_index", "tree_size", "audit_path", "head", "log_key"}]}``: for a member that may
    read that version (else 404, as for an object that does not exist)."""
    check_accept(request.headers.get("Accept"))
    principal = principal_of(request)
    if not principal.is_member:
        raise NotAuthenticated("the federation proofs are for members")
    stix_id, version = request.query.get("id"), request.query.get("version")
    if not stix_id or not version:
        raise InvalidInput("give the object version: ?id=…&version=…")
    try:
        wanted = normalise_ts(version)
    except InvalidInput as exc:
        raise InvalidInput(f"version: {exc.message}") from exc
    services = request.app[SERVICES]
    page = await services.store.objects.read_objects(
        principal,
        ReadQuery(
            collection="bulletins",
            filter=ObjectFilter(ids=(stix_id,), versions=(wanted,)),
            limit=1,
        ),
        with_body=False,
    )
    if not page.objects:
        raise NotFound(f"no object {stix_id}")
    found = await services.store.peers.proofs(stix_id, wanted)
    return taxii_response(
        {
            "id": stix_id,
            "version": version,
            "proofs": [
                {
                    "peer": p.peer,
                    "exchange": p.exchange,
                    "leaf_index": p.leaf_index,
                    "tree_size": p.tree_size,
                    "audit_path": list(p.audit_path),
                    "head": p.head,
                    "log_key": p.log_key,
                }
                for p in found
            ],
        }
    )


@routes.get(API_ROOT + "federation/heads/")
async def heads(request: web.Request) -> web.Response:
    """``{"heads": [signed head, …]}``: the last head of each peer's log this exchange
    checked, each as that peer's log key signed it (members only). Another exchange pulling
    the same peer compares them with its own: a peer that shows two logs is caught."""
    check_accept(request.headers.get("Accept"))
    if not principal_of(request).is_member:
        raise NotAuthenticated("the heads of peers' logs are for members")
    return taxii_response({"heads": list(await request.app[SERVICES].peers.heads_seen())})
