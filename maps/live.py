"""The streetworker's live map: sites by status and days since the last visit, facilities with
free beds and whether open now, the SOS bus with its next departures. Internal use only.

Pure: data in, folium.Map out. Sites go to the browser as one compact array handled by our site
layer (maps/sitelayer.py), never as one Marker per site.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import folium
from folium.plugins import LocateControl
from folium.template import Template
from jinja2.utils import htmlsafe_json_dumps

from geo_outreach.core.i18n import translator
from geo_outreach.core.vocab import (
    FACILITY_TYPES,
    HAZARDS,
    HELP_KINDS,
    SITE_CATEGORIES,
    SITE_STATUSES,
    Lang,
    label,
)
from maps import common
from maps.common import STATUS_COLOURS, VISIT_AGE, Legend, Script
from maps.escape import escape
from maps.model import BusRoute, District, FacilityPoint, LiveData, SitePoint
from maps.sitelayer import SITE_LAYER_JS
from maps.streets import TileSet

_STATUS_CODES = list(SITE_STATUSES)
_CATEGORY_CODES = list(SITE_CATEGORIES)
_HAZARD_CODES = list(HAZARDS)
_HELP_CODES = list(HELP_KINDS)
OVERDUE_DAYS = 30  # an active site not visited for longer makes its cluster red


class SiteLayer(folium.map.Layer):
    """Our clustered canvas layer of sites, plus the search box that finds them."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = new L.GoSiteLayer({{ this.data_json }});
        new L.GoSearch({{ this.get_name() }}, {{ this.search|tojson }})
            .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, data: dict[str, Any], *, name: str, search: dict[str, Any]) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "SiteLayer"
        self.data = data
        # The same HTML-safe JSON as the `tojson` filter (<, >, & and ' escaped), without the
        # spaces after separators and \u escapes of Polish letters: a fifth of the page at 20k.
        self.data_json = htmlsafe_json_dumps(data, separators=(",", ":"), ensure_ascii=False)
        self.search = search


def site_rows(sites: list[SitePoint], *, now: datetime, districts: list[str]) -> list[list[Any]]:
    """Compact rows for the site layer; column order matches maps/sitelayer.py.

    Times travel as epoch seconds and are formatted in the browser (Europe/Warsaw): converting
    40k visit times to local time here would cost more than the whole rest of the map.
    """
    district_index = {name: i for i, name in enumerate(districts)}
    now_ts = now.timestamp()
    help_index = {h: i for i, h in enumerate(_HELP_CODES)}
    hazard_index = {h: i for i, h in enumerate(_HAZARD_CODES)}
    category_index = {c: i for i, c in enumerate(_CATEGORY_CODES)}
    status_index = {c: i for i, c in enumerate(_STATUS_CODES)}
    rows: list[list[Any]] = []
    for s in sites:
        last_ts = int(s.last_visit_at.timestamp()) if s.last_visit_at else None
        rows.append(
            [
                round(s.lon, 6),
                round(s.lat, 6),
                s.code,
                s.name,
                category_index[s.category],
                status_index[s.status],
                s.estimated_people,
                [hazard_index[h] for h in s.hazards],
                int((now_ts - last_ts) // 86400) if last_ts is not None else -1,
                last_ts,
                district_index.get(s.district or "", -1),
                [
                    [
                        int(v.visited_at.timestamp()),
                        v.people_met,
                        [help_index[h] for h in v.help_given if h in help_index],
                    ]
                    for v in s.recent_visits
                ],
            ]
        )
    return rows


def _bits(indices: list[int]) -> int:
    return sum(1 << i for i in set(indices))


def site_columns(sites: list[SitePoint], *, now: datetime, districts: list[str]) -> dict[str, Any]:
    """The rows of `site_rows` as columns, packed for the page (decoded by
    `L.GoSiteLayer.decode` in maps/static/geo-outreach-sites.js into the same rows).

    Positions are integer millionths of a degree from the south-west corner (the same 6
    decimals as the rows), times are whole seconds before `now`, hazard and help lists are bit
    sets over the vocabulary, and days since the last visit is left for the browser to derive.
    Lossless: every decoded row equals its `site_rows` row, hazards in vocabulary order.
    """
    now_s = math.floor(now.timestamp())
    district_index = {name: i for i, name in enumerate(districts)}
    help_index = {h: i for i, h in enumerate(_HELP_CODES)}
    hazard_index = {h: i for i, h in enumerate(_HAZARD_CODES)}
    category_index = {c: i for i, c in enumerate(_CATEGORY_CODES)}
    status_index = {c: i for i, c in enumerate(_STATUS_CODES)}
    lon = [round(round(s.lon, 6) * 1_000_000) for s in sites]
    lat = [round(round(s.lat, 6) * 1_000_000) for s in sites]
    west, south = min(lon, default=0), min(lat, default=0)
    visits = [v for s in sites for v in s.recent_visits]
    return {
        "now": now_s,
        "origin": [west, south],
        "x": [v - west for v in lon],
        "y": [v - south for v in lat],
        "code": [s.code for s in sites],
        "name": [s.name for s in sites],
        "cat": [category_index[s.category] for s in sites],
        "status": [status_index[s.status] for s in sites],
        "people": [s.estimated_people for s in sites],
        "haz": [_bits([hazard_index[h] for h in s.hazards]) for s in sites],
        "last": [
            now_s - int(s.last_visit_at.timestamp()) if s.last_visit_at else None for s in sites
        ],
        "district": [district_index.get(s.district or "", -1) + 1 for s in sites],  # 0: none
        "visits": [len(s.recent_visits) for s in sites],
        "visitAgo": [now_s - int(v.visited_at.timestamp()) for v in visits],
        "visitMet": [v.people_met for v in visits],
        "visitHelp": [_bits([help_index[h] for h in v.help_given if h in help_index])
                      for v in visits],
    }  # fmt: skip


def site_payload(
    sites: list[SitePoint], *, now: datetime, lang: Lang, packed: bool = False
) -> dict[str, Any]:
    """What the site layer reads: the sites and the words and colours to draw them with.

    `packed` sends the sites as `site_columns` (the live map's page); otherwise as `site_rows`
    (the field app's data.json). The shared JS's `L.GoSiteLayer.decode` reads both.
    """
    _ = translator(lang).gettext
    districts = sorted({s.district for s in sites if s.district})
    # The words the site layer's popups and cluster titles use (maps/static/geo-outreach-sites.js).
    text = {
        "people": _("osoby (szac.)"),
        "status": _("status"),
        "district": _("dzielnica"),
        "last_visit": _("ostatnia wizyta"),
        "days_since": _("dni od wizyty"),
        "never": _("nigdy"),
        "hazards": _("zagrożenia"),
        "recent_visits": _("ostatnie wizyty"),
        "met": _("spotkano"),
        "cluster": _("miejsc w tym obszarze"),
    }
    sites_part = (
        site_columns(sites, now=now, districts=districts)
        if packed
        else {"rows": site_rows(sites, now=now, districts=districts)}
    )
    return {
        **sites_part,
        "districts": districts,
        "categories": [label(SITE_CATEGORIES, c, lang) for c in _CATEGORY_CODES],
        "statuses": [label(SITE_STATUSES, c, lang) for c in _STATUS_CODES],
        "statusColours": [STATUS_COLOURS[c] for c in _STATUS_CODES],
        "hazards": [[label(HAZARDS, h, lang), common.HAZARD_SYMBOLS[h]] for h in _HAZARD_CODES],
        "help": [label(HELP_KINDS, h, lang) for h in _HELP_CODES],
        "ageColours": [list(a) for a in VISIT_AGE],
        "overdueDays": OVERDUE_DAYS,
        "timeZone": str(now.tzinfo),
        "locale": {"pl": "pl-PL", "en": "en-GB", "uk": "uk-UA"}[lang],
        "text": text,
    }


def facility_popup(f: FacilityPoint, *, now: datetime, lang: Lang) -> str:
    _ = translator(lang).gettext
    as_of = _("stan na")
    state = common.facility_open_now(f, now)
    open_text = (
        _("poza sezonem")
        if state is None and f.season_from
        else _("otwarte teraz")
        if state
        else _("teraz zamknięte")
    )
    rows = [
        (_("godziny otwarcia"), common.hours_text(f.opening_hours, lang) or "–"),
        ("", f"{open_text} ({as_of} {now:%H:%M})"),
    ]
    if f.free_beds is not None:
        beds = f"{f.free_beds}" + (f" / {f.capacity}" if f.capacity is not None else "")
        if f.free_beds_updated_at:
            beds += f" ({as_of} {f.free_beds_updated_at.astimezone(now.tzinfo):%d.%m %H:%M})"
        rows.append((_("wolne miejsca"), beds))
    if f.season_from and f.season_to:
        rows.append((_("sezon"), f"{f.season_from} – {f.season_to}"))
    if f.address:
        rows.append((_("adres"), f.address))
    if f.phone:
        rows.append((_("telefon"), f.phone))
    body = "".join(
        f'<tr><th scope="row">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in rows
    )
    return (
        f'<div class="go-popup"><h3>{escape(f.name)}</h3>'
        f"<p>{escape(label(FACILITY_TYPES, f.type, lang))}</p><table>{body}</table></div>"
    )


def facility_marker(f: FacilityPoint, *, now: datetime, lang: Lang) -> folium.Marker:
    state = common.facility_open_now(f, now)
    css = "go-open" if state else "go-shut"
    text = str(f.free_beds) if f.free_beds is not None else "i"
    colour = "#1f5f8b" if f.free_beds is None or f.free_beds > 0 else "#7b241c"
    icon = folium.DivIcon(
        html=(
            f'<div class="go-badge {css}" style="width:30px;height:30px;background:{colour}" '
            f'data-facility="{escape(f.code)}">{text}</div>'
        ),
        icon_size=(30, 30),
        icon_anchor=(15, 15),
    )
    return folium.Marker(
        location=[f.lat, f.lon],
        icon=icon,
        tooltip=escape(f.name),
        popup=folium.Popup(facility_popup(f, now=now, lang=lang), max_width=320),
    )


def add_bus(m: folium.Map, routes: list[BusRoute], *, now: datetime, lang: Lang) -> None:
    _ = translator(lang).gettext
    next_departure = _("najbliższy odjazd")
    group = folium.FeatureGroup(name=_("Autobus SOS"), overlay=True, show=True)
    for route in routes:
        folium.PolyLine(
            [(lat, lon) for lon, lat in route.coords],
            color="#6c3483",
            weight=5,
            opacity=0.8,
            tooltip=escape(route.name),
        ).add_to(group)
        for stop in route.stops:
            season = common.season_text(common.season_of(route, stop))
            nxt = common.departure_text(common.next_departure(route, stop, now), now, lang)
            rows = (
                (_("przyjazd"), common.clock(stop.arrive)),
                (_("odjazd"), common.clock(stop.depart)),
                (next_departure, nxt),
                (_("sezon"), season),
            )
            html = (
                f'<div class="go-popup"><h3>{escape(stop.name)}</h3><table>'
                + "".join(f'<tr><th scope="row">{k}</th><td>{escape(v)}</td></tr>' for k, v in rows)
                + "</table></div>"
            )
            common.numbered_stop(
                lat=stop.lat,
                lon=stop.lon,
                number=stop.seq,
                colour="#6c3483",
                data=f'data-bus-stop="{stop.seq}"',
                tooltip=escape(f"{stop.name} – {next_departure}: {nxt}"),
                popup=html,
            ).add_to(group)
    group.add_to(m)


def add_districts(m: folium.Map, districts: list[District], *, lang: Lang, show: bool) -> None:
    if not districts:
        return
    features = [
        # GeoJsonTooltip writes the property into innerHTML as it is.
        {"type": "Feature", "properties": {"name": escape(d.name)}, "geometry": d.geometry}
        for d in districts
    ]
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=translator(lang).gettext("Dzielnice"),
        show=show,
        style_function=lambda _: {"color": "#34495e", "weight": 1.5, "fill": False},
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
    ).add_to(m)


def _legend(lang: Lang, confidential_beds: list[FacilityPoint]) -> str:
    _ = translator(lang).gettext
    never, free_beds = _("nigdy"), _("wolne miejsca")
    open_now, closed_now = _("otwarte teraz"), _("teraz zamknięte")
    status = [
        f'<span class="go-swatch" style="background:{STATUS_COLOURS[c]}"></span>'
        f"{label(SITE_STATUSES, c, lang)}"
        for c in _STATUS_CODES
    ]
    ages = []
    previous = 0
    for limit, colour in VISIT_AGE:
        span = f"{previous}–{limit}" if limit is not None else f"&gt; {previous} / {never}"
        ages.append(f'<span class="go-ring" style="border-color:{colour}"></span>{span}')
        previous = (limit or 0) + 1
    hazards = [
        f'<span class="go-sym">{common.HAZARD_SYMBOLS[h]}</span>{label(HAZARDS, h, lang)}'
        for h in _HAZARD_CODES
    ]
    facility = [
        '<span class="go-badge go-open" style="display:inline-flex;width:22px;height:22px;'
        f'background:#1f5f8b">3</span> {free_beds}, {open_now}',
        '<span class="go-badge go-shut" style="display:inline-flex;width:22px;height:22px;'
        f'background:#1f5f8b">3</span> {closed_now}',
    ]
    # Confidential shelters: their beds count for referrals, their place is never drawn.
    facility += [
        f"{escape(f.name)}: {f.free_beds} {free_beds}"
        for f in confidential_beds
        if f.free_beds is not None
    ]
    size = pick_size(lang)
    return common.legend_html(
        _("Legenda"),
        [
            (_("status"), status),
            (_("dni od wizyty"), ages),
            (_("osoby (szac.)"), [size]),
            (_("zagrożenia"), hazards),
            (_("Placówki pomocy"), facility),
        ],
    )


def pick_size(lang: Lang) -> str:
    return translator(lang).gettext("większe kółko = więcej osób")


def build(
    data: LiveData,
    *,
    now: datetime,
    streets: TileSet | None,
    lang: Lang = "pl",
) -> folium.Map:
    """The live site map. `now` must be timezone-aware (Europe/Warsaw for the demo)."""
    if now.tzinfo is None:
        msg = "now: needs a time zone (e.g. Europe/Warsaw)"
        raise ValueError(msg)
    _ = translator(lang).gettext
    if streets is not None:
        w, s, e, n = streets.bounds
        centre = ((s + n) / 2, (w + e) / 2)
    else:
        centre = common.GDANSK_CENTRE
    m = common.new_map(
        streets=streets,
        lang=lang,
        title=_("Mapa miejsc – streetworking"),
        location=centre,
        zoom=13,
    )
    m.add_child(Script(SITE_LAYER_JS))
    add_districts(m, data.districts, lang=lang, show=False)
    group = folium.FeatureGroup(name=_("Placówki pomocy"), overlay=True, show=True)
    for f in data.facilities:
        if not f.confidential:
            facility_marker(f, now=now, lang=lang).add_to(group)
    group.add_to(m)
    add_bus(m, data.routes, now=now, lang=lang)
    SiteLayer(
        site_payload(data.sites, now=now, lang=lang, packed=True),
        name=_("Miejsca niemieszkalne"),
        search={"placeholder": _("Szukaj miejsca: nazwa lub numer"), "position": "topleft"},
    ).add_to(m)
    LocateControl(
        icon="go-locate-icon",
        strings={"title": _("Pokaż moje położenie")},
        position="topleft",
    ).add_to(m)
    m.add_child(Legend(_legend(lang, [f for f in data.facilities if f.confidential])))
    folium.LayerControl(position="topright", collapsed=True).add_to(m)
    return m
