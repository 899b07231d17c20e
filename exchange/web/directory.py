"""Member-only endpoints beside TAXII: who the caller is, the key directory and the
delivery ledger."""

from __future__ import annotations

from aiohttp import web

from exchange.errors import InvalidInput, NotAuthenticated
from exchange.services.keys import key_json
from exchange.taxii.media import check_accept
from exchange.web.keys import SERVICES, principal_of
from exchange.web.taxii import API_ROOT, taxii_response

routes = web.RouteTableDef()


@routes.get(API_ROOT + "whoami/")
async def whoami(request: web.Request) -> web.Response:
    """The member the request's token belongs to: clients compare it with the owner of the
    key they sign with (``exchange publish`` refuses to relay by mistake)."""
    check_accept(request.headers.get("Accept"))
    principal = principal_of(request)
    if not principal.is_member:
        raise NotAuthenticated("whoami is for members")
    return taxii_response(
        {
            "member": principal.member,
            "identity": principal.identity,
            "scope": "read-write" if principal.can_write else "read-only",
        }
    )


@routes.get(API_ROOT + "keys/")
async def key_directory(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    if not principal_of(request).is_member:
        raise NotAuthenticated("the key directory is for members")
    keys = await request.app[SERVICES].keys.list_keys()
    return taxii_response({"keys": [key_json(k) for k in keys]})


@routes.get(API_ROOT + "deliveries/")
async def deliveries(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    principal = principal_of(request)
    if not principal.is_member:
        raise NotAuthenticated("the delivery ledger is for members")
    stix_id = request.query.get("id")
    if not stix_id:
        raise InvalidInput("give the object: ?id=…")
    found = await request.app[SERVICES].members.deliveries(stix_id, principal)
    return taxii_response(
        {
            "id": stix_id,
            "deliveries": [
                {"member": d.member, "version": d.version, "delivered": d.delivered} for d in found
            ],
        }
    )
