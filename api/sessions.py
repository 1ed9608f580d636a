"""The field app's session cookie over HTTP: its flags, and the CSRF and Origin checks that every
state-changing request authenticated by the cookie must pass (bearer clients are not affected)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.datastructures import URL

from geo_outreach.accounts import sessions
from geo_outreach.core import db
from geo_outreach.core.policy import Forbidden, Principal
from geo_outreach.core.settings import Settings

SESSION_COOKIE = "go_session"
# Readable by the app's script, which sends it back in CSRF_HEADER; useless without the session.
CSRF_COOKIE = "go_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


class CsrfRefused(Forbidden):
    """A cookie-authenticated change that did not come from the app's own pages."""


def _public(request: Request) -> URL:
    # The address people type, configured (behind a proxy the request itself says http and
    # 127.0.0.1: never trust Host for anything security decides).
    settings: Settings = request.app.state.settings
    return URL(settings.public_url)


def _secure(request: Request) -> bool:
    # Plain http is accepted for development on this machine only.
    public = _public(request)
    return (
        public.scheme == "https"
        or request.url.scheme == "https"
        or request.url.hostname not in LOCAL_HOSTS
    )


def same_origin(request: Request) -> bool:
    """The browser says the request comes from our own origin: the configured public origin,
    or, on this machine only, the origin the request was sent to."""
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    if origin is not None and origin != "null":
        public = _public(request)
        allowed = {f"{public.scheme}://{public.netloc}"}
        if request.url.hostname in LOCAL_HOSTS:
            allowed.add(f"{request.url.scheme}://{request.url.netloc}")
        return origin in allowed
    # "null": our pages send no referrer, so a browser may hide the origin of a form post;
    # then Fetch Metadata must tell a cross-site request apart (no header at all: refused,
    # an old browser could be logged in to someone else's account by a foreign page).
    if origin == "null":
        return site in ("same-origin", "none")
    return site is None or site in ("same-origin", "none")


def set_cookies(response: Response, request: Request, found: sessions.BrowserSession) -> None:
    secure = _secure(request)
    common = {"path": "/", "secure": secure, "samesite": "strict", "expires": found.expires_at}
    response.set_cookie(SESSION_COOKIE, found.sid, httponly=True, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, found.csrf, httponly=False, **common)  # type: ignore[arg-type]


def clear_cookies(response: Response, request: Request) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(
            name, path="/", secure=_secure(request), httponly=True, samesite="strict"
        )


def cookie_principal(request: Request, engine: Engine, settings: Settings) -> Principal | None:
    """The account behind the session cookie, None without one; changes need the CSRF token."""
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if not same_origin(request) or not sessions.csrf_ok(sid, sent, secret=settings.secret_key):
            msg = f"cross-site request refused: send the {CSRF_HEADER} header from the app"
            raise CsrfRefused(msg)
    with db.session_scope(engine) as session:
        return sessions.resume(session, sid, settings=settings)
