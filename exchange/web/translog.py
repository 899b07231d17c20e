"""The transparency log's endpoints (members only): the signed head, the log key and its
history, inclusion and consistency proofs, cosignatures. See docs/transparency.md."""

from __future__ import annotations

from aiohttp import web

from exchange.errors import InvalidInput, NotAuthenticated
from exchange.strictjson import DECODER
from exchange.taxii.media import check_accept
from exchange.web.keys import SERVICES, principal_of
from exchange.web.taxii import API_ROOT, taxii_response

routes = web.RouteTableDef()
LOG = API_ROOT + "log/"
MAX_COSIGNATURE_BODY = 4096
MAX_INCLUSIONS_BODY = 1024 * 1024


def _member_only(request: web.Request) -> None:
    check_accept(request.headers.get("Accept"))
    if not principal_of(request).is_member:
        raise NotAuthenticated("the transparency log is for members")


def _int_param(request: web.Request, name: str) -> int:
    values = request.query.getall(name, [])
    if len(values) != 1:
        raise InvalidInput(f"give exactly one {name}=N")
    text = values[0]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidInput(f"{name} must be a non-negative integer, not {text!r}")
    return int(text)


def _str_param(request: web.Request, name: str) -> str:
    values = request.query.getall(name, [])
    if len(values) != 1 or not values[0]:
        raise InvalidInput(f"give exactly one {name}=…")
    return values[0]


@routes.get(LOG)
async def head(request: web.Request) -> web.Response:
    _member_only(request)
    return taxii_response((await request.app[SERVICES].log.head()).to_json())


@routes.get(LOG + "checkpoint")
async def checkpoint(request: web.Request) -> web.Response:
    if not principal_of(request).is_member:
        raise NotAuthenticated("the transparency log is for members")
    size = _int_param(request, "tree_size") if "tree_size" in request.query else None
    text = await request.app[SERVICES].log.checkpoint(size)
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


@routes.get(LOG + "key/")
async def log_key(request: web.Request) -> web.Response:
    _member_only(request)
    keys = await request.app[SERVICES].log.key_history()
    current, former = keys[0], keys[1:]
    return taxii_response(
        {
            "key_id": current.key_id,
            "public_key": current.public_key,
            "history": [
                {"key_id": k.key_id, "public_key": k.public_key, "not_after": k.not_after}
                for k in former
            ],
        }
    )


@routes.get(LOG + "inclusion/")
async def inclusion(request: web.Request) -> web.Response:
    _member_only(request)
    proof = await request.app[SERVICES].log.inclusion(
        principal_of(request),
        _str_param(request, "id"),
        _str_param(request, "version"),
        _int_param(request, "tree_size"),
    )
    return taxii_response(proof.to_json())


@routes.post(LOG + "inclusions/")
async def inclusions(request: web.Request) -> web.Response:
    """Many audit paths at once: ``{"tree_size": N, "objects": [{"id", "version"}]}`` ->
    ``{"tree_size", "proofs": [{"id", "version", "leaf_index", "audit_path"}]}``, for the
    versions the caller may read (a peer exchange verifying a page it imports)."""
    _member_only(request)
    raw = await request.read()
    if len(raw) > MAX_INCLUSIONS_BODY:
        raise InvalidInput("ask for fewer proofs at once")
    try:
        body = DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from exc
    tree_size = body.get("tree_size") if isinstance(body, dict) else None
    items = body.get("objects") if isinstance(body, dict) else None
    if not isinstance(tree_size, int) or isinstance(tree_size, bool) or not isinstance(items, list):
        raise InvalidInput('send {"tree_size": N, "objects": [{"id": …, "version": …}]}')
    wanted: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidInput('each of objects is {"id", "version"}')
        stix_id, version = item.get("id"), item.get("version")
        if not isinstance(stix_id, str) or not isinstance(version, str):
            raise InvalidInput('each of objects is {"id", "version"}, both strings')
        wanted.append((stix_id, version))
    found = await request.app[SERVICES].log.inclusions(principal_of(request), tree_size, wanted)
    return taxii_response(
        {
            "tree_size": tree_size,
            "proofs": [{"id": i, "version": v, **proof.to_json()} for i, v, proof in found],
        }
    )


@routes.get(LOG + "consistency/")
async def consistency(request: web.Request) -> web.Response:
    _member_only(request)
    first, second = _int_param(request, "first"), _int_param(request, "second")
    proof = await request.app[SERVICES].log.consistency(first, second)
    return taxii_response({"first": first, "second": second, "proof": proof})


@routes.post(LOG + "cosignatures/")
async def cosign(request: web.Request) -> web.Response:
    _member_only(request)
    # The body was read already, under the body timeout (middleware ``read_body``).
    raw = await request.read()
    if len(raw) > MAX_COSIGNATURE_BODY:
        raise InvalidInput("a cosignature is a small JSON object")
    try:
        body = DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from exc
    cosig = await request.app[SERVICES].log.cosign(principal_of(request), body)
    return taxii_response(cosig.to_json(), status=201)
