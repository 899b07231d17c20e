"""TAXII 2.1 handlers: discovery, API root, collections, objects, manifest, versions, status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import orjson
from aiohttp import web

from exchange.errors import InvalidInput, NotAuthenticated, PermissionDenied, TooLarge
from exchange.models import Status
from exchange.services.read import Collection, PageResult, find_collection, visible_collections
from exchange.taxii.envelope import envelope_bytes
from exchange.taxii.media import STIX, TAXII, check_accept, check_content_type
from exchange.web.keys import SERVICES, SETTINGS, principal_of
from exchange.web.middleware import note_refusal

API_ROOT = "/api/v1/"
routes = web.RouteTableDef()


def taxii_response(
    body: bytes | dict[str, object], status: int = 200, page: PageResult | None = None
) -> web.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    response = web.Response(status=status, body=raw, content_type=None)
    response.headers["Content-Type"] = TAXII
    if page is not None and page.objects:
        response.headers["X-TAXII-Date-Added-First"] = page.first_added or ""
        response.headers["X-TAXII-Date-Added-Last"] = page.last_added or ""
    return response


def envelope_response(page: PageResult) -> web.Response:
    """An envelope of stored objects, their texts served as they came."""
    return taxii_response(
        envelope_bytes([o.body for o in page.objects], page.more, page.next), page=page
    )


def _params(request: web.Request) -> Mapping[str, Sequence[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.query.items():
        out.setdefault(key, []).append(value)
    return out


def _base_url(request: web.Request) -> str:
    """``public_url`` when configured, else the address the connection came in on: never the
    request's Host header (which the client chooses, and a proxy or cache may keep)."""
    settings = request.app[SETTINGS]
    if settings.public_url:
        return settings.public_url.rstrip("/")
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host, port = str(sockname[0]), int(sockname[1])
    else:
        host, port = settings.host, settings.port
    if ":" in host:
        host = f"[{host}]"
    return f"{request.scheme}://{host}:{port}"


def _collection(request: web.Request) -> Collection:
    collection = find_collection(request.match_info["collection"])
    principal = principal_of(request)
    if not collection.anonymous and not principal.is_member:
        raise NotAuthenticated("this collection needs an API token")
    return collection


def _collection_json(collection: Collection, can_write: bool) -> dict[str, object]:
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "alias": collection.alias,
        "can_read": True,
        "can_write": collection.writable and can_write,
        "media_types": [STIX],
    }


@routes.get("/taxii2/")
async def discovery(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    settings = request.app[SETTINGS]
    root = _base_url(request) + API_ROOT
    body: dict[str, object] = {
        "title": settings.title,
        "description": settings.description,
        "default": root,
        "api_roots": [root],
    }
    if settings.contact:
        body["contact"] = settings.contact
    return taxii_response(body)


@routes.get(API_ROOT)
async def api_root(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    settings = request.app[SETTINGS]
    return taxii_response(
        {
            "title": settings.title,
            "description": settings.description,
            "versions": [TAXII],
            "max_content_length": settings.max_content_length,
        }
    )


@routes.get(API_ROOT + "status/{status_id}/")
async def status(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    principal = principal_of(request)
    if not principal.is_member:
        raise NotAuthenticated("status resources need an API token")
    found = await request.app[SERVICES].read.status(principal, request.match_info["status_id"])
    return taxii_response(found.to_taxii())


@routes.get(API_ROOT + "collections/")
async def collections(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    principal = principal_of(request)
    listed = [_collection_json(c, principal.can_write) for c in visible_collections(principal)]
    return taxii_response({"collections": listed} if listed else {})


@routes.get(API_ROOT + "collections/{collection}/")
async def collection(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    found = _collection(request)
    return taxii_response(_collection_json(found, principal_of(request).can_write))


@routes.get(API_ROOT + "collections/{collection}/objects/")
async def get_objects(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    found = _collection(request)
    page = await request.app[SERVICES].read.objects(principal_of(request), found, _params(request))
    return envelope_response(page)


@routes.post(API_ROOT + "collections/{collection}/objects/")
async def add_objects(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    found = _collection(request)
    principal = principal_of(request)
    if not found.writable:
        raise PermissionDenied(f"the {found.alias} collection is read-only")
    if not principal.can_write:
        raise PermissionDenied("this token is read-only")
    check_content_type(request.headers.get("Content-Type"))
    limit = request.app[SETTINGS].max_content_length
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the request body exceeds max_content_length ({limit} bytes)")
    anonymous = _anonymous(request.query.getall("anonymous", []))
    body = await request.read()  # aiohttp stops reading past client_max_size (chunked too)
    result = await request.app[SERVICES].publish.publish(principal, body, anonymous)
    if result.failure_count:
        note_refusal(request, 202, refused_objects(result))
    return taxii_response(result.to_taxii(), status=202)


def _anonymous(values: Sequence[str]) -> bool | None:
    """``?anonymous=true|false`` on a post (docs/privacy.md); absent: the member's standing
    rules decide."""
    if not values:
        return None
    if len(values) > 1 or values[0] not in ("true", "false"):
        raise InvalidInput("anonymous takes one value, true or false")
    return values[0] == "true"


def refused_objects(result: Status) -> str:
    """What the audit log says of an envelope's refused objects: how many, by refusal code
    (the codes only: an object's message may quote what it held)."""
    codes = Counter(
        f.message[1 : f.message.index("]")]
        if f.message.startswith("[") and "]" in f.message
        else "other"
        for f in result.failures
    )
    by_code = ", ".join(f"{code} x{n}" for code, n in sorted(codes.items()))
    return f"{result.failure_count} of {result.total_count} objects refused: {by_code}"


@routes.get(API_ROOT + "collections/{collection}/objects/{object_id}/")
async def get_object(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    found = _collection(request)
    page = await request.app[SERVICES].read.object(
        principal_of(request), found, request.match_info["object_id"], _params(request)
    )
    return envelope_response(page)


@routes.delete(API_ROOT + "collections/{collection}/objects/{object_id}/")
async def delete_object(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    found = _collection(request)
    await request.app[SERVICES].read.delete(
        principal_of(request), found, request.match_info["object_id"], _params(request)
    )
    return taxii_response(b"", status=200)


@routes.get(API_ROOT + "collections/{collection}/objects/{object_id}/versions/")
async def versions(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    found = _collection(request)
    page = await request.app[SERVICES].read.versions(
        principal_of(request), found, request.match_info["object_id"], _params(request)
    )
    body: dict[str, object] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if page.objects:
        body["versions"] = [o.version_as_written for o in page.objects]
    return taxii_response(body, page=page)


@routes.get(API_ROOT + "collections/{collection}/manifest/")
async def manifest(request: web.Request) -> web.Response:
    check_accept(request.headers.get("Accept"))
    found = _collection(request)
    page = await request.app[SERVICES].read.manifest(principal_of(request), found, _params(request))
    body: dict[str, object] = {"more": page.more}
    if page.next:
        body["next"] = page.next
    if page.objects:
        body["objects"] = [
            {
                "id": o.stix_id,
                "date_added": o.date_added,
                "version": o.version_as_written,
                "media_type": STIX,
            }
            for o in page.objects
        ]
    return taxii_response(body, page=page)
