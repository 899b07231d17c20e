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
