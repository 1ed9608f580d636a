"""The field app at /app/: login page and browser session, the app shell and its service worker,
local copies of its libraries (from node_modules, installed pinned by scripts/setup.sh: never a
CDN), and the data the caller's role may see."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import uuid
from datetime import date, datetime
from functools import cache, lru_cache
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from api import apptext
from api import sessions as web
from api.deps import (
    Ctx,
    EngineDep,
    MaybePrincipalDep,
    SettingsDep,
    client_address,
    guard,
    open_route,
    street_tiles,
)
from geo_outreach.accounts import sessions
from geo_outreach.accounts import users as auth
from geo_outreach.core import db, policy
from geo_outreach.core.errors import NotFound
from geo_outreach.core.policy import Forbidden, Principal, RateLimited, Unauthorized
from geo_outreach.core.settings import REPO_ROOT
from geo_outreach.mapping.app_data import app_data, prefetch_tiles
from geo_outreach.routing import planner
from maps import assets

router = APIRouter(prefix="/app", tags=["field app"])
WEB = Path(__file__).resolve().parents[1] / "web"
NODE = REPO_ROOT / "node_modules"
# Our own files, the libraries (from node_modules) and the live map's site layer and styles:
# the only files the app loads, all from this origin.
OWN = ("app.css", "app.js", "outbox.js", "login.css", "icon.svg")
VENDOR = {
    "idb.js": "idb/build/umd.js",
    **{
        f"workbox/{name}": f"{name.split('.')[0]}/build/{name}"
        for name in (
            "workbox-sw.js",
            "workbox-core.prod.js",
            "workbox-routing.prod.js",
            "workbox-strategies.prod.js",
            "workbox-expiration.prod.js",
            "workbox-cacheable-response.prod.js",
        )
    },
}
MAP_FILES = ("geo-outreach-sites.js", "geo-outreach-maps.css")
# No other origin; no inline script (all code is in files); styles inline for Leaflet's markers.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The office console (issue 12): its pages frame the planner map of a plan (same origin only).
CONSOLE_CSP = CSP.replace("frame-ancestors", "frame-src 'self'; frame-ancestors")
CONSOLE_PAGES = ("plan", "patrols", "sos", "beds", "review", "reports", "admin", "import")
ConsolePage = Literal["plan", "patrols", "sos", "beds", "review", "reports", "admin", "import"]
CONSOLE_DIR = WEB / "console"
# Served like OWN, but not kept by the field app's service worker (phones do not need them).
CONSOLE_OWN = ("console.css", "console.js", *(f"console-{p}.js" for p in CONSOLE_PAGES))
# Where a login may return to: a console page (never another site).
NEXT_PAGE = re.compile(r"/app/console(/[a-z]{2,12})?")  # fullmatch: no trailing newline
AppLang = Annotated[Literal["pl", "en", "uk"], Query(description="pl (default), en or uk")]
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml"}


class SessionOut(BaseModel):
    state: str
    name: str | None = None
    role: str | None = None
    data_ttl_hours: int


# Text files go gzipped to browsers that accept it (Leaflet: 150 kB → 43 kB on a slow network).
ZIPPED = frozenset({".js", ".css", ".svg", ".webmanifest"})


@lru_cache(maxsize=64)
def _gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6)


def _send(request: Request, body: bytes, *, suffix: str, cache_control: str) -> Response:
    headers = {"Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if suffix in ZIPPED and "gzip" in request.headers.get("accept-encoding", ""):
        body = _gzipped(body)
        headers["Content-Encoding"] = "gzip"
    media = TYPES.get(suffix, "application/octet-stream")
    return Response(body, media_type=media, headers=headers)


def _file(request: Request, path: Path, *, cache_control: str = "no-cache") -> Response:
    if not path.is_file():
        msg = f"no file {path.name} (run scripts/setup.sh to install the app's libraries)"
        raise NotFound(msg)
    return _send(request, path.read_bytes(), suffix=path.suffix, cache_control=cache_control)


def _html(body: str, *, status: int = 200, csp: str = CSP) -> HTMLResponse:
    headers = {"Content-Security-Policy": csp, "Cache-Control": "no-cache"}
    return HTMLResponse(body, status_code=status, headers=headers)


@cache
def _leaflet() -> dict[str, bytes]:
    """Leaflet as the maps load it (folium-offline's copy, images inlined): one copy for both."""
    return {f"/app/vendor/{name}": text.encode() for name, text in assets.leaflet().items()}


@cache
def _shell_files() -> dict[str, Path]:
    out = {f"/app/static/{n}": WEB / n for n in OWN}
    out.update({f"/app/vendor/{k}": NODE / v for k, v in VENDOR.items()})
    maps_static = Path(str(files("maps") / "static"))
    out.update({f"/app/maps/{n}": maps_static / n for n in MAP_FILES})
    return out


def _version() -> str:
    """Changes whenever a file of the shell does, so phones install the new service worker."""
    digest = hashlib.sha256()
    for url, path in sorted(_shell_files().items()):
        digest.update(url.encode())
        digest.update(path.read_bytes() if path.is_file() else b"-")
    for url, text in sorted(_leaflet().items()):
        digest.update(url.encode())
        digest.update(text)
    digest.update((WEB / "app.html").read_bytes())
    return digest.hexdigest()[:16]


@router.get("/", include_in_schema=False, dependencies=[open_route()])
def shell(lang: AppLang = "pl") -> HTMLResponse:
    """The app shell: no data in it (the data comes from /app/data.json for a signed-in role)."""
    return _html((WEB / "app.html").read_text(encoding="utf-8"))


def _login_page(
    lang: str, *, error: str = "", name: str = "", status: int = 200, back: str | None = None
) -> HTMLResponse:
    t = apptext.texts(lang)  # type: ignore[arg-type]
    page = (WEB / "login.html").read_text(encoding="utf-8")
    values = {f"{{{{{k}}}}}": escape(v) for k, v in t.items()}
    values["{{lang}}"] = lang
    # After login, back to the console page that sent the user here (a console page only).
    back = back if back and NEXT_PAGE.fullmatch(back) else None
    values["{{next_field}}"] = (
        f'<input type="hidden" name="next" value="{escape(back)}">' if back else ""
    )
    values["{{next_query}}"] = f"&amp;next={escape(back)}" if back else ""
    values["{{error}}"] = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    # Last, so nothing typed is read as a placeholder; kept after a failure, never the password.
    values["{{name_value}}"] = escape(name)
    for key, value in values.items():
        page = page.replace(key, value)
    return _html(page, status=status)


@router.get("/login", include_in_schema=False, dependencies=[open_route()])
def login_page(
    lang: AppLang = "pl",
    back: Annotated[str | None, Query(alias="next", max_length=200)] = None,
) -> HTMLResponse:
    """The login form (inputs `username` and `password`); `next`: the console page to return to."""
    return _login_page(lang, back=back)


@router.post("/login", include_in_schema=False, dependencies=[open_route()])
def login(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    lang: Annotated[Literal["pl", "en", "uk"], Form()] = "pl",
    back: Annotated[str, Form(alias="next", max_length=200)] = "",
) -> Response:
    """Start a browser session: HttpOnly SameSite=Strict cookie, Secure outside localhost."""
    if not web.same_origin(request):
        msg = "cross-site login refused"
        raise Forbidden(msg)
    client = client_address(request, settings)
    try:
        issued = auth.login(
            engine, name=username, password=password, client=client, settings=settings
        )
    except (Unauthorized, RateLimited) as exc:
        limited = isinstance(exc, RateLimited)
        text = apptext.texts(lang)["login_limited" if limited else "login_failed"]
        status = 429 if limited else 401
        return _login_page(lang, error=text, name=username, status=status, back=back)
    with db.session_scope(engine) as session:
        started = sessions.start(session, issued, settings=settings)
    where = back if NEXT_PAGE.fullmatch(back) else "/app/"
    response = RedirectResponse(f"{where}?lang={lang}", status_code=303)
    web.set_cookies(response, request, started)
    return response


@router.post("/logout", status_code=204, dependencies=[guard("account", "read")])
def end_browser_session(request: Request, engine: EngineDep, settings: SettingsDep) -> Response:
    """End the browser session on the server (the app wipes its local data first)."""
    sid = request.cookies.get(web.SESSION_COOKIE)
    if sid:
        with db.session_scope(engine) as session:
            sessions.end(session, sid, settings=settings)
    response = Response(status_code=204)
    web.clear_cookies(response, request)
    return response


@router.get("/session", dependencies=[open_route()])
def session_state(request: Request, engine: EngineDep, settings: SettingsDep) -> SessionOut:
    """What became of this browser's session: the app wipes its data when told 'revoked'."""
    sid = request.cookies.get(web.SESSION_COOKIE)
    with db.session_scope(engine) as session:
        state = sessions.state(session, sid, settings=settings)
        who = (
            sessions.resume(session, sid, settings=settings) if state == "active" and sid else None
        )
    return SessionOut(
        state=state,
        name=who.name if who else None,
        role=who.role if who else None,
        data_ttl_hours=settings.app_data_ttl_hours,
    )


@router.get("/data.json")
def data(
    request: Request, ctx: Annotated[Ctx, guard("field_app", "read")], lang: AppLang = "pl"
) -> Response:
    """Everything the app shows this role: sites (staff), facilities, the SOS bus, my route."""
    tiles = street_tiles(request, ctx.settings)
    with ctx.tx() as tx:
        found = app_data(tx.session, ctx.principal, now=datetime.now(planner.TZ), lang=lang)
        tx.detail = {"purpose": "app:data"}
    found["tiles"] = {
        "bounds": tiles.leaflet_bounds,
        "min_zoom": tiles.min_zoom,
        "max_zoom": tiles.max_zoom,
        "prefetch": prefetch_tiles(tiles, route=found["route"]),
    }
    found["data_ttl_hours"] = ctx.settings.app_data_ttl_hours
    body = json.dumps(found, separators=(",", ":")).encode()
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Encoding"}
    # The largest answer the app gets (5,000 sites ≈ 0.6 MB): gzip makes it ~6× smaller on a
    # slow phone network. It holds no secret a reflected input could be guessed against.
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


@router.get("/text/{lang}.json", include_in_schema=False, dependencies=[open_route()])
def text(lang: Literal["pl", "en", "uk"]) -> dict[str, str]:
    return apptext.texts(lang)


@router.get("/sw.js", include_in_schema=False, dependencies=[open_route()])
def service_worker(settings: SettingsDep) -> Response:
    """The service worker, with the shell's file list and version written in."""
    code = (WEB / "sw.js").read_text(encoding="utf-8")
    shell_urls = ["/app/", "/app/login", *sorted(_shell_files()), *sorted(_leaflet())]
    shell_urls += [f"/app/text/{lang}.json" for lang in apptext.LANGS]
    code = code.replace("__VERSION__", _version()).replace("__SHELL__", json.dumps(shell_urls))
    code = code.replace("__DATA_TTL_SECONDS__", str(settings.app_data_ttl_hours * 3600))
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": CSP}
    return Response(code, media_type="text/javascript", headers=headers)


@router.get("/manifest.webmanifest", include_in_schema=False, dependencies=[open_route()])
def manifest(request: Request) -> Response:
    return _file(request, WEB / "manifest.webmanifest")


@router.get("/static/{name}", include_in_schema=False, dependencies=[open_route()])
def own_file(request: Request, name: str) -> Response:
    if name not in OWN and name not in CONSOLE_OWN:
        msg = f"no app file {name}"
        raise NotFound(msg)
    return _file(request, WEB / name)


@router.get("/vendor/{name:path}", include_in_schema=False, dependencies=[open_route()])
def vendor_file(request: Request, name: str) -> Response:
    kept = _leaflet().get(f"/app/vendor/{name}")
    if kept is not None:
        suffix = Path(name).suffix
        return _send(request, kept, suffix=suffix, cache_control="public, max-age=86400")
    if name not in VENDOR:
        msg = f"no library file {name}"
        raise NotFound(msg)
    return _file(request, NODE / VENDOR[name], cache_control="public, max-age=86400")


@router.get("/maps/{name}", include_in_schema=False, dependencies=[open_route()])
def map_file(request: Request, name: str) -> Response:
    """The live map's own site layer and styles: one source of truth for how a site is drawn."""
    path = _shell_files().get(f"/app/maps/{name}")
    if path is None:
        msg = f"no map file {name}"
        raise NotFound(msg)
    return _file(request, path)


# -- the office console (issue 12) ------------------------------------------------------------


def _console_caller(found: MaybePrincipalDep) -> Principal | None:
    """The signed-in account (None without a session): the page itself decides between the
    login page, the no-access page and the console, instead of answering JSON errors."""
    return found if isinstance(found, Principal) and found.user_id is not None else None


# The console's pages hold no data (the page's script asks the guarded APIs for it); they are
# shown to the roles that policy lets read ("console", "read"): see _console_page.
_console_caller.guarded = ("console", "read")  # type: ignore[attr-defined]
ConsoleCaller = Annotated[Principal | None, Depends(_console_caller)]


# A coalition partner reads the partner version of the yearly report (issue 12) in the
# console: that page only (its script asks for audience=partner); every other page is for the
# roles policy lets read ("console", "read").
OTHER_READERS = {"reports": ("partner_reports", "read")}


def _may_open(role: str, page: str) -> bool:
    if policy.allowed(role, "console", "read"):
        return True
    need = OTHER_READERS.get(page)
    return need is not None and policy.allowed(role, *need)


def _console_nav(t: dict[str, str], lang: str, page: str, role: str) -> str:
    """The pages this role may open (none: no nav)."""
    items = []
    for name in ("index", *CONSOLE_PAGES):
        if not _may_open(role, name):
            continue
        href = f"/app/console{'' if name == 'index' else '/' + name}?lang={lang}"
        current = ' aria-current="page"' if name == page else ""
        label = escape(t[f"console_page_{name}"])
        items.append(f'<li><a href="{href}"{current} data-page="{name}">{label}</a></li>')
    return "".join(items)


def _fill(template: str, t: dict[str, str]) -> str:
    """{{key}} → the escaped text of `key` in the page's language."""
    return re.sub(r"\{\{(\w+)\}\}", lambda m: escape(t.get(m.group(1), m.group(0))), template)


def _console_page(page: str, lang: str, who: Principal | None) -> Response:
    if who is None:  # no session (or an ended one): log in, then come back here
        here = "/app/console" + ("" if page == "index" else f"/{page}")
        return RedirectResponse(f"/app/login?lang={lang}&next={here}", status_code=303)
    t = apptext.texts(lang)  # type: ignore[arg-type]
    allowed = _may_open(who.role, page)
    name = page if allowed else "no-access"
    content = _fill((CONSOLE_DIR / f"{name}.html").read_text(encoding="utf-8"), t)
    script = f"console-{page}.js"
    scripts = ['<script src="/app/static/console.js"></script>']
    if allowed and (WEB / script).is_file():
        scripts.append(f'<script src="/app/static/{script}"></script>')
    shell = _fill((CONSOLE_DIR / "shell.html").read_text(encoding="utf-8"), t)
    values = {  # the page's markup first: it may use [[lang]] too
        "[[content]]": content,
        "[[lang]]": lang,
        "[[page]]": page if allowed else "no-access",
        "[[title]]": escape(t[f"console_page_{page}"]),
        "[[nav]]": _console_nav(t, lang, page, who.role),
        "[[scripts]]": "\n".join(scripts),
    }
    for key, value in values.items():
        shell = shell.replace(key, value)
    # Last, so nothing in an account's name is read as a placeholder.
    role = escape(t.get(f"console_role_{who.role}", who.role))
    shell = shell.replace("[[role_label]]", role).replace("[[role]]", escape(who.role))
    shell = shell.replace("[[who]]", escape(who.name))
    return _html(shell, status=200 if allowed else 403, csp=CONSOLE_CSP)


def _page_query(
    plan: Annotated[uuid.UUID | None, Query(description="plan page: the plan shown")] = None,
    day: Annotated[date | None, Query(description="patrols page: the day listed")] = None,
) -> None:
    """Query parameters the pages' own scripts read (declared, so they are not refused as
    unknown); the server does not use them."""


@router.get("/console", include_in_schema=False)
def console_index(who: ConsoleCaller, lang: AppLang = "pl") -> Response:
    """The console's menu: every page, who is signed in, language and logout."""
    return _console_page("index", lang, who)


@router.get("/console/{page}", include_in_schema=False, dependencies=[Depends(_page_query)])
def console_page(page: ConsolePage, who: ConsoleCaller, lang: AppLang = "pl") -> Response:
    """One console page (markup from api/web/console/{page}.html, data from the APIs)."""
    return _console_page(page, lang, who)
