"""What the three maps share: the page, the offline street layer, labels, colours and clocks."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import folium
from branca.element import Figure, MacroElement
from folium.template import Template

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

# UI strings: key → (pl, en, uk). Polish first.
TEXT: dict[str, tuple[str, str, str]] = {
    "streets": ("Ulice (offline)", "Streets (offline)", "Вулиці (офлайн)"),
    "sites": ("Miejsca niemieszkalne", "Sleeping sites", "Місця ночівлі"),
    "facilities": ("Placówki pomocy", "Help facilities", "Заклади допомоги"),
    "bus": ("Autobus SOS", "SOS bus", "Автобус SOS"),
    "bus_stops": ("Przystanki autobusu SOS", "SOS bus stops", "Зупинки автобуса SOS"),
    "districts": ("Dzielnice", "Districts", "Райони"),
    "legend": ("Legenda", "Legend", "Легенда"),
    "open_now": ("otwarte teraz", "open now", "зараз відчинено"),
    "closed_now": ("teraz zamknięte", "closed now", "зараз зачинено"),
    "out_of_season": ("poza sezonem", "out of season", "поза сезоном"),
    "free_beds": ("wolne miejsca", "free beds", "вільні місця"),
    "as_of": ("stan na", "as of", "станом на"),
    "next_departure": ("najbliższy odjazd", "next departure", "найближче відправлення"),
    "no_departure": (
        "brak kursów w tym sezonie",
        "no departures this season",
        "немає рейсів у цьому сезоні",
    ),
    "season": ("sezon", "season", "сезон"),
    "arrive": ("przyjazd", "arrives", "прибуття"),
    "depart": ("odjazd", "departs", "відправлення"),
    "hours": ("godziny otwarcia", "opening hours", "години роботи"),
    "address": ("adres", "address", "адреса"),
    "phone": ("telefon", "phone", "телефон"),
    "people": ("osoby (szac.)", "people (est.)", "люди (оцінка)"),
    "status": ("status", "status", "статус"),
    "days_since": ("dni od wizyty", "days since visit", "днів від відвідування"),
    "never": ("nigdy", "never", "ніколи"),
    "last_visit": ("ostatnia wizyta", "last visit", "останнє відвідування"),
    "recent_visits": ("ostatnie wizyty", "recent visits", "останні відвідування"),
    "hazards": ("zagrożenia", "hazards", "небезпеки"),
    "district": ("dzielnica", "district", "район"),
    "search": (
        "Szukaj miejsca: nazwa lub numer",
        "Find a site: name or number",
        "Пошук місця: назва або номер",
    ),
    "locate": ("Pokaż moje położenie", "Show my location", "Показати моє місцезнаходження"),
    "cluster": ("miejsc w tym obszarze", "sites in this area", "місць у цій області"),
    "met": ("spotkano", "met", "зустрінуто"),
    "daily": ("codziennie", "daily", "щодня"),
    "closed": ("nieczynne", "closed", "зачинено"),
    "demo": ("dane demonstracyjne", "demonstration data", "демонстраційні дані"),
}
DAY_NAMES: dict[str, tuple[str, str, str]] = {
    "MO": ("pon.", "Mon", "пн"),
    "TU": ("wt.", "Tue", "вт"),
    "WE": ("śr.", "Wed", "ср"),
    "TH": ("czw.", "Thu", "чт"),
    "FR": ("pt.", "Fri", "пт"),
    "SA": ("sob.", "Sat", "сб"),
    "SU": ("niedz.", "Sun", "нд"),
}
_LANG_INDEX = {"pl": 0, "en": 1, "uk": 2}


def t(key: str, lang: Lang) -> str:
    return TEXT[key][_LANG_INDEX[lang]]


def pick(labels: tuple[str, str, str], lang: Lang) -> str:
    return labels[_LANG_INDEX[lang]]


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
    parts = []
    for days, (opens, closes) in groups:
        if len(days) == 7:
            label = t("daily", lang)
        elif len(days) == 1:
            label = pick(DAY_NAMES[days[0]], lang)
        else:
            label = f"{pick(DAY_NAMES[days[0]], lang)}–{pick(DAY_NAMES[days[-1]], lang)}"
        parts.append(f"{label} {opens}–{closes}")
    return "; ".join(parts)


def next_departure(route: BusRoute, stop: BusStop, now: datetime) -> datetime | None:
    """The next departure of the bus from a stop after `now`, within the route's season."""
    tz = now.tzinfo
    day = max(now.date(), route.season_start)
    while day <= route.season_end:
        at = datetime.combine(day, stop.depart, tzinfo=tz)
        if at > now:
            return at
        day += timedelta(days=1)
    return None


def departure_text(at: datetime | None, now: datetime, lang: Lang) -> str:
    if at is None:
        return t("no_departure", lang)
    hhmm = at.strftime("%H:%M")
    if at.date() == now.date():
        return f"{pick(('dziś', 'today', 'сьогодні'), lang)} {hhmm}"
    if at.date() == now.date() + timedelta(days=1):
        return f"{pick(('jutro', 'tomorrow', 'завтра'), lang)} {hhmm}"
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


COMMON_CSS = assets.register(
    "geo-outreach-maps.css",
    """
.leaflet-container { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
.go-legend { background: #fff; padding: 6px 10px; max-width: 260px; font-size: 13px;
  line-height: 1.35; max-height: 60vh; overflow-y: auto; }
.go-legend summary { cursor: pointer; font-weight: bold; min-height: 24px; }
.go-legend ul { list-style: none; margin: 4px 0; padding: 0; }
.go-legend li { margin: 2px 0; }
.go-swatch { display: inline-block; width: 12px; height: 12px; border-radius: 50%;
  vertical-align: middle; margin-right: 6px; border: 3px solid transparent; }
.go-ring { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  vertical-align: middle; margin-right: 6px; border: 3px solid; background: #fff; }
.go-sym { display: inline-block; width: 18px; text-align: center; font-weight: bold; }
.go-badge { display: flex; align-items: center; justify-content: center; border-radius: 6px;
  color: #fff; font: bold 12px/1 "DejaVu Sans", sans-serif; border: 3px solid #fff;
  box-shadow: 0 0 2px #000; box-sizing: border-box; }
.go-badge.go-open { border-color: #1a9850; }
.go-badge.go-shut { border-color: #7f8c8d; opacity: 0.85; }
.go-stop { display: flex; align-items: center; justify-content: center; border-radius: 50%;
  color: #fff; font: bold 12px/1 "DejaVu Sans", sans-serif; border: 2px solid #fff;
  box-shadow: 0 0 3px #000; box-sizing: border-box; }
.go-cluster { display: flex; align-items: center; justify-content: center; border-radius: 50%;
  font: bold 13px/1 "DejaVu Sans", sans-serif; color: #fff; box-sizing: border-box;
  border: 4px solid rgba(255,255,255,0.7); box-shadow: 0 0 3px rgba(0,0,0,0.6); }
.go-hazard { font: bold 14px/1 "DejaVu Sans", sans-serif; color: #b71c1c;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff; white-space: nowrap; }
.go-popup h3 { font-size: 14px; margin: 0 0 4px; }
.go-popup table { border-collapse: collapse; font-size: 12px; }
.go-popup th { text-align: left; padding-right: 6px; font-weight: normal; color: #555; }
.go-search { background: #fff; padding: 4px; width: 240px; }
.go-search input { width: 100%; box-sizing: border-box; font-size: 14px; padding: 6px; }
.go-search ul { list-style: none; margin: 2px 0 0; padding: 0; max-height: 40vh;
  overflow-y: auto; }
.go-search li button { width: 100%; text-align: left; background: #fff; border: 0;
  border-top: 1px solid #eee; padding: 6px 4px; font-size: 13px; cursor: pointer; }
.go-search li button:hover, .go-search li button:focus { background: #e8f0fe; }
.go-locate-icon { display: inline-block; width: 16px; height: 16px; margin-top: 7px;
  border: 3px solid #333; border-radius: 50%; box-sizing: border-box; position: relative; }
.go-locate-icon::after { content: ""; position: absolute; left: 3px; top: 3px; width: 4px;
  height: 4px; background: #333; border-radius: 50%; }
.go-note { background: rgba(255,255,255,0.9); padding: 2px 6px; font-size: 12px; }
@media (max-width: 600px) { .go-search { width: 170px; } .go-legend { max-width: 200px; } }
""",
)


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
            name=t("streets", lang),
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
    """A round numbered stop marker (bus stops, planned stops); `data` are its data-* attributes."""
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
