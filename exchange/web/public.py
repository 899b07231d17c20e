"""The public pages and feeds of TLP:CLEAR bulletins (no authentication, no JavaScript).

``GET /`` lists bulletins newest first (``?q=`` words, ``?type=`` a report type, ``?page=``),
``GET /bulletins/{id}`` shows one, ``GET /feeds/atom.xml`` and ``GET /feeds/feed.json`` carry
the newest ones. What they show comes from ``PublicService`` (the anonymous reader of the
``public`` collection); every response carries a strict Content-Security-Policy
(exchange.web.security), and every
value is escaped by the templates (Markdown is rendered without raw HTML, then sanitised).
"""

from __future__ import annotations

import email.utils
import hashlib
import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
import nh3
import orjson
from aiohttp import web
from markdown_it import MarkdownIt
from markupsafe import Markup

from exchange.errors import NotFound
from exchange.services.public import Bulletin, BulletinDetail, printable
from exchange.timeutil import format_ts
from exchange.web.keys import SERVICES, SETTINGS

routes = web.RouteTableDef()
STATIC = Path(__file__).parent / "static"
ATOM = "application/atom+xml"
JSON_FEED = "application/feed+json"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
MAX_QUERY = 200


def _markdown_filters() -> tuple[Any, Any]:
    """``markdown``: Markdown as safe HTML; ``plain``: the same text without any markup."""
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})

    def render(text: Any) -> Markup:
        html = parser.render(text if isinstance(text, str) else "")
        # Raw HTML is already escaped by the parser; sanitising is the second lock.
        return Markup(nh3.clean(html, link_rel="noopener noreferrer nofollow"))

    def plain(text: Any) -> str:
        stripped = nh3.clean(parser.render(text if isinstance(text, str) else ""), tags=set())
        return " ".join(html.unescape(stripped).split())  # escaped again by the template

    return render, plain


def _finalize(value: Any) -> Any:
    """Every value a template prints, without characters no page or feed can carry."""
    if isinstance(value, Markup):
        return Markup(printable(str(value)))
    return printable(value) if isinstance(value, str) else value


def _date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def setup(app: web.Application) -> None:
    """Templates (package data), the stylesheet and the routes."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("exchange.web", "templates"),
        autoescape=jinja2.select_autoescape(("html", "xml"), default=True),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
    )
    env.filters["markdown"], env.filters["plain"] = _markdown_filters()
    env.filters["date"] = _date
    env.filters["iso"] = _iso
    app.add_routes(routes)


def base_url(request: web.Request) -> str:
    public = request.app[SETTINGS].public_url
    if public:
        return public.rstrip("/")
    return f"{request.scheme}://{request.host}"


def _html(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    context = dict(context, site_title=request.app[SETTINGS].title)
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _page_number(text: str) -> int:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    return max(1, int(text)) if text.isascii() and text.isdigit() and len(text) < 7 else 1


@routes.get("/", name="index")
async def index(request: web.Request) -> web.Response:
    q = request.query.get("q", "")[:MAX_QUERY]
    report_type = request.query.get("type", "")[:MAX_QUERY]
    page = await request.app[SERVICES].public.page(
        q, report_type, _page_number(request.query.get("page", "1"))
    )

    def link(number: int) -> str:
        query = {k: v for k, v in (("q", q), ("type", report_type)) if v}
        if number > 1:
            query["page"] = str(number)
        return str(request.app.router["index"].url_for().with_query(query))

    return _html(
        request,
        "index.html",
        {
            "page": page,
            "q": q,
            "report_type": report_type,
            "prev_link": link(page.page - 1) if page.page > 1 else None,
            "next_link": link(page.page + 1) if page.page < page.pages else None,
        },
    )


@routes.get("/bulletins/{report_id}")
async def bulletin(request: web.Request) -> web.Response:
    try:
        detail: BulletinDetail = await request.app[SERVICES].public.detail(
            request.match_info["report_id"]
        )
    except NotFound:
        return _html(request, "not_found.html", {}, status=404)
    return _html(request, "bulletin.html", {"d": detail, "b": detail.bulletin})


@routes.get("/static/public.css")
async def stylesheet(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "public.css", headers={"Cache-Control": "max-age=3600"})


# --- feeds -----------------------------------------------------------------------------------


def entry_id(bulletin: Bulletin) -> str:
    """A stable entry id: the report's UUID, whatever the host or version."""
    return "urn:uuid:" + bulletin.id.split("--", 1)[1]


def _updated(items: list[Bulletin]) -> datetime | None:
    return max((b.modified for b in items), default=None)


def _conditional(
    request: web.Request, body: bytes, content_type: str, last_modified: datetime | None
) -> web.Response:
    """200 with ETag and Last-Modified, or 304 when the client's copy is current."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if last_modified is not None:
        headers["Last-Modified"] = email.utils.format_datetime(
            last_modified.astimezone(UTC).replace(microsecond=0), usegmt=True
        )
    not_modified = False
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        # RFC 9110 13.1.2: weak comparison; If-Modified-Since is then ignored.
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        not_modified = "*" in tags or etag in tags
    elif last_modified is not None and request.if_modified_since is not None:
        not_modified = last_modified.replace(microsecond=0) <= request.if_modified_since
    if not_modified:
        return web.Response(status=304, headers=headers)
    response = web.Response(body=body, headers=headers)
    response.content_type = content_type
    response.charset = "utf-8"
    return response


@routes.get("/feeds/atom.xml")
async def atom(request: web.Request) -> web.Response:
    items = await request.app[SERVICES].public.feed()
    base = base_url(request)
    updated = _updated(items)
    text = aiohttp_jinja2.render_string(
        "atom.xml",
        request,
        {
            "items": items,
            "base": base,
            "entry_id": entry_id,
            "site_title": request.app[SETTINGS].title,
            "description": request.app[SETTINGS].description,
            "updated": updated or datetime(1970, 1, 1, tzinfo=UTC),
        },
    )
    modified = await request.app[SERVICES].public.feed_modified(items)
    return _conditional(request, text.encode("utf-8"), ATOM, modified)


def json_feed(
    items: list[Bulletin], base: str, title: str, description: str, render: Any, plain: Any
) -> dict[str, Any]:
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": title,
        "home_page_url": base + "/",
        "feed_url": base + "/feeds/feed.json",
        "description": description,
        "items": [],
    }
    for b in items:
        item: dict[str, Any] = {
            "id": entry_id(b),
            "url": f"{base}/bulletins/{b.id}",
            "title": b.title,
            "content_html": str(render(b.description)),
            "content_text": b.description,
            "date_published": format_ts(b.published),
            "date_modified": format_ts(b.modified),
            "tags": [*b.report_types, *b.labels],
        }
        if b.description:
            item["summary"] = str(plain(b.description))[:500]
        if b.lang:
            item["language"] = b.lang
        feed["items"].append(item)
    return feed


@routes.get("/feeds/feed.json")
async def feed_json(request: web.Request) -> web.Response:
    items = await request.app[SERVICES].public.feed()
    settings = request.app[SETTINGS]
    filters = aiohttp_jinja2.get_env(request.app).filters
    feed = json_feed(
        items,
        base_url(request),
        settings.title,
        settings.description,
        filters["markdown"],
        filters["plain"],
    )
    modified = await request.app[SERVICES].public.feed_modified(items)
    return _conditional(request, orjson.dumps(feed), JSON_FEED, modified)
