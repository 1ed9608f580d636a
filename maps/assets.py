"""Offline assets: every script and style a map needs is written beside it, none is fetched.

Folium links Leaflet and its plugins from CDNs, which leaves a blank page on an offline phone. We
render the map, then swap each CDN link for a file under `assets/`, taking the bytes from the
folium-offline package (which ships the same CDN files) or from our own scripts and styles, which
are real files in `maps/static/` shipped as package data. Libraries we do
not use (Bootstrap, Font Awesome, glyphicons) are dropped: their CSS pulls fonts from
other hosts. A link we cannot serve locally is an error, never a silent request to the internet.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path

from geo_outreach.core.errors import GeoOutreachError

ASSET_DIR = "assets"
OWN_SCHEME = "geo-outreach:"  # pseudo-URL of a script or style this package ships

# Folium's defaults that no map here uses; their fonts would come from other hosts. (jQuery
# stays: folium's popups are built with it.)
DROPPED = (
    "bootstrap@",
    "bootstrap/3.0.0/css/bootstrap-glyphicons",
    "fontawesome-free",
    "Leaflet.awesome-markers",
    "leaflet.awesome.rotate",
)

_SCRIPT = re.compile(r'<script\s+src="(?P<url>[^"]+)"\s*>\s*</script>')
_STYLE = re.compile(r'<link\s+rel="stylesheet"\s+href="(?P<url>[^"]+)"\s*/?>')
# Anything that would make the browser fetch from another host.
_REMOTE = re.compile(
    r"""(?:\bsrc\s*=\s*["']?|<link[^>]*\bhref\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)"""
    r"(?:https?:)?//",
    re.IGNORECASE,
)

STATIC = files("maps") / "static"  # our own scripts and styles (package data)


def register(name: str) -> str:
    """Make one of our files in maps/static/ available as an asset; returns its pseudo-URL."""
    if not (STATIC / name).is_file():
        msg = f"asset '{name}' is not in maps/static/ (reinstall the package)"
        raise GeoOutreachError(msg)
    return OWN_SCHEME + name


@cache
def _static(name: str) -> str:
    # Bytes as shipped (no newline translation), so the content-addressed name never drifts.
    return (STATIC / name).read_bytes().decode("utf-8")


def _vendor() -> dict[str, str]:
    try:
        from offlinefolium import elements
    except ImportError as exc:  # a broken install, not bad input
        msg = "the folium-offline package is missing: reinstall with scripts/setup.sh"
        raise GeoOutreachError(msg) from exc
    res = getattr(elements, "_res", None)
    if not isinstance(res, dict):
        msg = "folium-offline no longer ships its asset table (offlinefolium.elements._res)"
        raise GeoOutreachError(msg)
    return res


@dataclass
class Page:
    """A rendered map: its HTML and the files it loads from `assets/`."""

    html: str
    assets: dict[str, str] = field(default_factory=dict)

    def files(self) -> dict[str, str]:
        return {f"{ASSET_DIR}/{name}": text for name, text in self.assets.items()}


def _asset_name(url: str, text: str) -> str:
    base = url.removeprefix(OWN_SCHEME).rstrip("/").rsplit("/", 1)[-1] or "asset"
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)
    if not base.endswith((".js", ".css")):
        base += ".js"
    # Content-addressed, so a new library version never hits a stale browser cache.
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    stem, ext = base.rsplit(".", 1)
    return f"{stem}.{digest}.{ext}"


def _lookup(url: str) -> str:
    if url.startswith(OWN_SCHEME):
        name = url.removeprefix(OWN_SCHEME)
        if "/" in name or not (STATIC / name).is_file():
            msg = f"asset '{name}' is not in maps/static/ (maps.assets.register)"
            raise GeoOutreachError(msg)
        return _static(name)
    vendor = _vendor()
    if url in vendor:
        return vendor[url]
    msg = f"asset {url}: not available offline (not in folium-offline); refusing a remote request"
    raise GeoOutreachError(msg)


def localize(html: str) -> Page:
    """Swap CDN links for local `assets/…` files; raise if anything would still go remote."""
    assets: dict[str, str] = {}

    def swap(match: re.Match[str], *, script: bool) -> str:
        url = match.group("url")
        if not url.startswith(("http://", "https://", "//", OWN_SCHEME)):
            return match.group(0)
        if any(token in url for token in DROPPED):
            return ""
        text = _lookup(url)
        name = _asset_name(url, text)
        assets[name] = text
        if script:
            return f'<script src="{ASSET_DIR}/{name}"></script>'
        return f'<link rel="stylesheet" href="{ASSET_DIR}/{name}"/>'

    html = _SCRIPT.sub(lambda m: swap(m, script=True), html)
    html = _STYLE.sub(lambda m: swap(m, script=False), html)
    for where, text in [("page", html), *assets.items()]:
        hit = _REMOTE.search(text)
        if hit:
            snippet = text[max(0, hit.start() - 60) : hit.end() + 60].replace("\n", " ")
            msg = f"{where}: would load from another host: …{snippet}…"
            raise GeoOutreachError(msg)
    return Page(html=html, assets=assets)


def write(page: Page, path: Path) -> list[Path]:
    """Write the page and its assets (beside it, under assets/); returns every file written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = [path]
    for rel, text in page.files().items():
        target = path.parent / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written.append(target)
    path.write_text(page.html, encoding="utf-8")
    return written


def leaflet() -> dict[str, str]:
    """Leaflet's script and style exactly as every map loads them (folium's own links, served
    from folium-offline): the one copy of Leaflet for the maps and the field app."""
    import folium

    js = dict(folium.Map.default_js)["leaflet"]
    css = dict(folium.Map.default_css)["leaflet_css"]
    return {"leaflet.js": _lookup(js), "leaflet.css": _lookup(css)}
