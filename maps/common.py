"""What the three maps share: the page, the offline street layer, labels, colours and clocks."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import folium
from branca.element import Figure, MacroElement
from folium.template import Template

from geo_outreach.core.i18n import N_, translator
from geo_outreach.core.vocab import OSM_ATTRIBUTION, WEEKDAYS, Lang
from maps import assets
from maps.model import BusRoute, BusStop, FacilityPoint
from maps.streets import TileSet

TILE_URL = "tiles/{z}/{x}/{y}.png"
ATTRIBUTION_HTML = f'<a href="https://www.openstreetmap.org/copyright">{OSM_ATTRIBUTION}</a> (ODbL)'
# Pinch-zoom stays allowed: folium's default meta forbids it (user-scalable=no).
VIEWPORT_META = '<meta name="viewport" content="width=device-width, initial-scale=1" />'
_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*>', re.DOTALL)
GDANSK_CENTRE = (54.372, 18.638)  # lat, lon of Gdańsk Wrzeszcz, the demo's middle

STATUS_COLOURS = {
    "active": "#c0392b",
    "seasonal": "#e67e22",
    "inactive": "#7f8c8d",
    "closed": "#bdc3c7",
}
# Days since the last visit → outline colour (the last bucket also takes "never visited").
VISIT_AGE = ((7, "#1a9850"), (30, "#f1c40f"), (None, "#6c3483"))
# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
TEAM_COLOURS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#8C6D31",
)
# Symbols drawn beside a site with that hazard (all in DejaVu Sans, no icon font needed).
HAZARD_SYMBOLS = {
    "fire": "♨",
    "carbon_monoxide": "☁",
    "cold_exposure": "❄",
    "flooding": "☔",
    "aggressive_dog": "☗",
    "structural_collapse": "⚒",
    "needles": "✚",
    "traffic": "⚠",
    "other": "!",
}

# Weekday abbreviations by HSDS BYDAY code; translated through the catalogue.
DAY_NAMES: dict[str, str] = {
    "MO": N_("pon."),
    "TU": N_("wt."),
    "WE": N_("śr."),
    "TH": N_("czw."),
    "FR": N_("pt."),
    "SA": N_("sob."),
    "SU": N_("niedz."),
}


# -- clocks (pure: `now` always comes from the caller) ---------------------------------------


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def in_season(season_from: str | None, season_to: str | None, day: date) -> bool:
    """MM-DD season, inclusive; from > to wraps the new year; no season means all year."""
    if not season_from or not season_to:
        return True
    md = day.strftime("%m-%d")
    if season_from <= season_to:
        return season_from <= md <= season_to
    return md >= season_from or md <= season_to


def is_open(hours: tuple[dict[str, str], ...] | list[dict[str, str]], now: datetime) -> bool:
    """HSDS weekly hours; a closing time at or before the opening time runs past midnight."""
    minute = now.hour * 60 + now.minute
    today = WEEKDAYS[now.weekday()]
    yesterday = WEEKDAYS[(now.weekday() - 1) % 7]
    for entry in hours:
        opens, closes = _minutes(entry["opens_at"]), _minutes(entry["closes_at"])
        day = entry["byday"]
        if closes > opens:
            if day == today and opens <= minute < closes:
                return True
        else:  # overnight: open from `opens` to midnight, and next day until `closes`
            if day == today and minute >= opens:
                return True
            if day == yesterday and minute < closes:
                return True
    return False


def facility_open_now(facility: FacilityPoint, now: datetime) -> bool | None:
    """True/False, or None when it is out of season or has no published hours."""
    if not in_season(facility.season_from, facility.season_to, now.date()):
        return None
    if not facility.opening_hours:
        return None
    return is_open(facility.opening_hours, now)


def hours_text(hours: tuple[dict[str, str], ...] | list[dict[str, str]], lang: Lang) -> str:
    """'pon.–pt. 08:00–16:00; sob. 10:00–14:00', grouping consecutive days with equal hours."""
    if not hours:
        return ""
    by_day: dict[str, tuple[str, str]] = {}
    for entry in hours:
        by_day[entry["byday"]] = (entry["opens_at"], entry["closes_at"])
    groups: list[tuple[list[str], tuple[str, str]]] = []
    for day in WEEKDAYS:
        span = by_day.get(day)
        if span is None:
            continue
        if (
            groups
            and groups[-1][1] == span
            and WEEKDAYS.index(groups[-1][0][-1]) + 1 == (WEEKDAYS.index(day))
        ):
            groups[-1][0].append(day)
        else:
            groups.append(([day], span))
    _ = translator(lang).gettext
    parts = []
    for days, (opens, closes) in groups:
        if len(days) == 7:
            label = _("codziennie")
        elif len(days) == 1:
            label = _(DAY_NAMES[days[0]])
        else:
            label = f"{_(DAY_NAMES[days[0]])}–{_(DAY_NAMES[days[-1]])}"
        parts.append(f"{label} {opens}–{closes}")
    return "; ".join(parts)


# A departure before this hour belongs to the evening before (the bus runs past midnight).
SERVICE_DAY_STARTS = time(12, 0)
# A season is at most a year: looking further finds nothing new.
_LOOKAHEAD_DAYS = 367


def season_of(route: BusRoute, stop: BusStop) -> tuple[str, str]:
    """The stop's own season, or else the route's (MM-DD, MM-DD)."""
    if stop.season_from and stop.season_to:
        return stop.season_from, stop.season_to
    return route.season_from, route.season_to


def season_text(season: tuple[str, str]) -> str:
    """'01.11 – 31.03' (every year)."""
    first, last = (f"{md[3:5]}.{md[0:2]}" for md in season)
    return f"{first} – {last}"


def next_departure(route: BusRoute, stop: BusStop, now: datetime) -> datetime | None:
    """The next departure of the bus from a stop after `now`, on an evening within the stop's
    yearly season (its own, or the route's); a time after midnight is the next morning of
    that evening."""
    tz = now.tzinfo
    first, last = season_of(route, stop)
    after_midnight = stop.depart < SERVICE_DAY_STARTS
    # Start the evening before: its after-midnight departure may still be ahead.
    evening = now.date() - timedelta(days=1)
    for _ in range(_LOOKAHEAD_DAYS + 1):
        if in_season(first, last, evening):
            day = evening + timedelta(days=1) if after_midnight else evening
            at = datetime.combine(day, stop.depart, tzinfo=tz)
            if at > now:
                return at
        evening += timedelta(days=1)
    return None


def departure_text(at: datetime | None, now: datetime, lang: Lang) -> str:
    _ = translator(lang).gettext
    if at is None:
        return _("brak kursów w tym sezonie")
    hhmm = at.strftime("%H:%M")
    if at.date() == now.date():
        return _("dziś") + f" {hhmm}"
    if at.date() == now.date() + timedelta(days=1):
        return _("jutro") + f" {hhmm}"
    return f"{at:%d.%m} {hhmm}"


def clock(value: time) -> str:
    return value.strftime("%H:%M")


# -- the page -----------------------------------------------------------------------------------


class PageFigure(Figure):
    """The HTML document around a map: `lang` set, a title, scripts after the content."""

    _template = Template(
        "<!DOCTYPE html>\n"
        '<html lang="{{ this.lang }}">\n'
        "<head>\n"
        '<meta charset="utf-8" />\n'
        # No favicon request: a 404 would be a console error on every load.
        '<link rel="icon" href="data:," />\n'
        "<title>{{ this.title }}</title>\n"
        "{{ this.header.render(**kwargs) }}\n"
        "</head>\n"
        "<body>\n"
        "{{ this.html.render(**kwargs) }}\n"
        "<script>\n"
        "{{ this.script.render(**kwargs) }}\n"
        "</script>\n"
        "</body>\n"
        "</html>\n"
    )

    def __init__(self, *, lang: Lang, title: str) -> None:
        super().__init__(title=title)
        self.lang = lang


class Legend(MacroElement):
    """A collapsible legend (a <details> element, so keyboards and screen readers can use it)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        ;(function () {
            var ctl = L.control({position: {{ this.position|tojson }}});
            ctl.onAdd = function () {
                var div = L.DomUtil.create('div', 'go-legend leaflet-bar');
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            ctl.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, html: str, *, position: str = "bottomleft") -> None:
        super().__init__()
        self._name = "Legend"
        self.html = html
        self.position = position


class Attribution(MacroElement):
    """An attribution line without a tile layer (maps drawn from OSM always carry one)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.html|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, html: str) -> None:
        super().__init__()
        self._name = "Attribution"
        self.html = html


class Stylesheet(MacroElement):
    """Links one of our stylesheets (served from assets/ once the page is localised)."""

    _template = Template(
        '{% macro header(this, kwargs) %}<link rel="stylesheet" href="{{ this.url }}"/>'
        "{% endmacro %}"
    )

    def __init__(self, url: str) -> None:
        super().__init__()
        self._name = "Stylesheet"
        self.url = url


class Script(MacroElement):
    """Links one of our scripts in the page head (before the map's own code runs)."""

    _template = Template(
        '{% macro header(this, kwargs) %}<script src="{{ this.url }}"></script>{% endmacro %}'
    )

    def __init__(self, url: str) -> None:
        super().__init__()
        self._name = "Script"
        self.url = url


COMMON_CSS = assets.register("geo-outreach-maps.css")  # a file in maps/static/


def new_map(
    *,
    streets: TileSet | None,
    lang: Lang,
    title: str,
    location: tuple[float, float],
    zoom: int = 13,
    prefer_canvas: bool = False,
) -> folium.Map:
    """A map on our page with the offline street tiles and OSM attribution; no remote tiles."""
    page = PageFigure(lang=lang, title=title)
    m = folium.Map(
        location=list(location),
        zoom_start=zoom,
        tiles=None,
        prefer_canvas=prefer_canvas,
        control_scale=True,
        min_zoom=streets.min_zoom if streets else 10,
        max_zoom=19,
    )
    page.add_child(m)
    m.add_child(Stylesheet(COMMON_CSS))
    if streets is not None:
        folium.TileLayer(
            tiles=TILE_URL,
            attr=ATTRIBUTION_HTML,
            name=translator(lang).gettext("Ulice (offline)"),
            min_zoom=streets.min_zoom,
            max_zoom=19,
            max_native_zoom=streets.max_zoom,
            bounds=streets.leaflet_bounds,
            overlay=False,
            control=True,
        ).add_to(m)
    else:
        m.add_child(Attribution(ATTRIBUTION_HTML))
    return m


def numbered_stop(
    *,
    lat: float,
    lon: float,
    number: int,
    colour: str,
    data: str,
    tooltip: str,
    popup: str,
) -> folium.Marker:
    """A round numbered stop marker (bus stops, planned stops); `data` are its data-* attributes.

    `tooltip` and `popup` are HTML: callers pass data through maps.escape.escape.
    """
    icon = folium.DivIcon(
        html=(
            f'<div class="go-stop" style="width:24px;height:24px;background:{colour}" '
            f"{data}>{number}</div>"
        ),
        icon_size=(24, 24),
        icon_anchor=(12, 12),
    )
    return folium.Marker(
        location=[lat, lon], icon=icon, tooltip=tooltip, popup=folium.Popup(popup, max_width=300)
    )


def legend_html(title: str, sections: list[tuple[str, list[str]]]) -> str:
    """<details> with a list per section; items are trusted HTML snippets built here."""
    body = "".join(
        f"<p><strong>{head}</strong></p><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
        for head, items in sections
    )
    return f"<details><summary>{title}</summary>{body}</details>"


def render(m: folium.Map) -> assets.Page:
    """The map as one HTML page plus its local assets (pure: nothing is written)."""
    html = m.get_root().render()
    # Keep exactly one viewport meta: ours, which allows pinch-zoom.
    html = _VIEWPORT.sub("", html)
    html = html.replace("<head>\n", "<head>\n" + VIEWPORT_META + "\n", 1)
    return assets.localize(html)


def save(m: folium.Map, path: Path) -> list[Path]:
    return assets.write(render(m), path)


def js_value(value: Any) -> Any:
    """JSON-safe copy (datetimes as ISO strings), for data handed to our scripts."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: js_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [js_value(v) for v in value]
    return value
