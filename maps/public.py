"""The public campaign map: where to find help, the SOS bus, who to call, how to help wisely.

It never holds a sleeping site, a patrol, a visit or any statistic: it is built from public,
non-confidential facilities and the SOS bus only, and refuses anything else. Beside the map an
accessible HTML list gives the same places with addresses and hours (Polish accessibility law for
public bodies), so the page works without the map too. Polish by default, English and Ukrainian.
"""

from __future__ import annotations

from datetime import datetime

import folium
from branca.element import Element, Figure

from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.i18n import LANGS, N_, translator
from geo_outreach.core.vocab import FACILITY_TYPES, Lang, label
from maps import alertform, common
from maps.common import Stylesheet
from maps.escape import escape
from maps.model import BusRoute, FacilityPoint, PublicData
from maps.streets import TileSet

FILE_NAMES = {"pl": "public.html", "en": "public.en.html", "uk": "public.uk.html"}
LANG_NAMES = {"pl": "Polski", "en": "English", "uk": "Українська"}

# Advice for passers-by, in this order.
WISELY = (
    N_("Jeśli widzisz osobę, która może marznąć – zapytaj, czy potrzebuje pomocy."),
    N_("Gdy życie jest zagrożone (nie reaguje, jest wychłodzona) – dzwoń 112."),
    N_(
        "Gdy ktoś potrzebuje pomocy, ale nie ma zagrożenia życia – zadzwoń do Straży Miejskiej"
        " (986)."
    ),
    N_(
        "Zamiast pieniędzy daj ciepły napój, posiłek lub ciepłe ubranie; powiedz o ogrzewalni i"
        " autobusie SOS."
    ),
    N_("Szanuj prywatność: nie fotografuj, nie publikuj zdjęć ani miejsc, w których ktoś nocuje."),
)

# Real national numbers, plus one clearly marked placeholder.
HOTLINES = (
    ("112", N_("numer alarmowy – zagrożenie życia, wychłodzenie")),
    ("986", N_("Straż Miejska – zgłoś osobę potrzebującą pomocy")),
    (
        "+48 58 000 00 00",
        N_("Infolinia pomocy osobom w kryzysie bezdomności (numer demonstracyjny)"),
    ),
)

PUBLIC_CSS = common.assets.register("geo-outreach-public.css")  # in maps/static/


def _check(data: PublicData) -> None:
    """Defence in depth: the data function filters already; a leak here must fail loudly."""
    for f in data.facilities:
        if not f.public or f.confidential:
            msg = (
                f"facilities: '{f.code}' is not public or is confidential; "
                "it can never be on the public map"
            )
            raise GeoOutreachError(msg)


def _facility_letter(f: FacilityPoint, lang: Lang) -> str:
    return label(FACILITY_TYPES, f.type, lang)[:1].upper()


def _facility_item(f: FacilityPoint, lang: Lang, now: datetime) -> str:
    _ = translator(lang).gettext
    hours = common.hours_text(f.opening_hours, lang)

    def term(name: str, value_html: str) -> str:
        return f"<dt>{name}</dt><dd>{value_html}</dd>"

    parts = [
        f"<h3>{escape(f.name)}</h3><dl>",
        term(escape(label(FACILITY_TYPES, f.type, lang)), ""),
    ]
    if f.address:
        parts.append(term(_("adres"), escape(f.address)))
    if hours:
        parts.append(term(_("godziny otwarcia"), escape(hours)))
    if f.free_beds is not None:
        # Tonight's number, as the shelter last reported it (the page is rebuilt on a change).
        beds = f"{f.free_beds}" + (f" / {f.capacity}" if f.capacity is not None else "")
        if f.free_beds_updated_at:
            at = f.free_beds_updated_at.astimezone(now.tzinfo)
            as_of = _("stan na")
            beds += f" ({as_of} {at:%d.%m %H:%M})"
        shown = f'<span data-free-beds="{f.free_beds}">{escape(beds)}</span>'
        parts.append(term(_("wolne miejsca"), shown))
    if f.season_from and f.season_to:
        parts.append(term(_("sezon"), f"{f.season_from} – {f.season_to}"))
    if f.phone:
        tel = f.phone.replace(" ", "")
        parts.append(term(_("telefon"), f'<a href="tel:{escape(tel)}">{escape(f.phone)}</a>'))
    parts.append("</dl>")
    return "<li>" + "".join(parts) + "</li>"


def _bus_table(route: BusRoute, lang: Lang, now: datetime) -> str:
    _ = translator(lang).gettext
    rows = "".join(
        f"<tr><td>{s.seq}. {escape(s.name)}</td><td>{common.clock(s.arrive)}</td>"
        f"<td>{common.clock(s.depart)}</td>"
        f"<td>{escape(common.departure_text(common.next_departure(route, s, now), now, lang))}"
        "</td></tr>"
        for s in route.stops
    )
    season = common.season_text((route.season_from, route.season_to))
    season_word = _("sezon")
    head = (_("przystanek"), _("przyjazd"), _("odjazd"), _("najbliższy odjazd"))
    return (
        f"<h3>{escape(route.name)}</h3><p>{season_word}: {season}</p>"
        f"<table><caption class='go-skip'>{escape(route.name)}</caption><thead><tr>"
        + "".join(f'<th scope="col">{h}</th>' for h in head)
        + f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def aside_html(data: PublicData, *, lang: Lang, now: datetime) -> str:
    """The accessible list beside the map (also the whole page for screen-reader users)."""
    _ = translator(lang).gettext
    langs = " · ".join(
        f'<a href="{FILE_NAMES[code]}" lang="{code}" hreflang="{code}"'
        + (' aria-current="page"' if code == lang else "")
        + f">{LANG_NAMES[code]}</a>"
        for code in LANGS
    )
    hotlines = "".join(
        f'<li><a class="go-tel" href="tel:{n.replace(" ", "")}">{n}</a> – {_(text)}</li>'
        for n, text in HOTLINES
    )
    wisely = "".join(f"<li>{escape(_(item))}</li>" for item in WISELY)
    places = "".join(_facility_item(f, lang, now) for f in data.facilities)
    buses = "".join(_bus_table(r, lang, now) for r in data.routes)
    intro = _(
        "Ogrzewalnie, noclegownie, jadłodajnie i autobus SOS. Jeśli ktoś marznie – nie przechodź"
        " obojętnie."
    )
    privacy = _(
        "Ta mapa celowo nie pokazuje miejsc, w których nocują osoby w kryzysie bezdomności."
    )
    demo = _("Dane demonstracyjne: nazwy, adresy i numery placówek są przykładowe.")
    language, title, phones = _("Język"), _("Gdzie szukać pomocy – Gdańsk i Sopot"), _("Telefony")
    wise, help_places, bus = _("Pomagaj mądrze"), _("Miejsca pomocy"), _("Autobus SOS – rozkład")
    return (
        '<aside class="go-aside" id="go-list">'
        f'<nav class="go-lang" aria-label="{language}">{langs}</nav>'
        f"<h1>{escape(title)}</h1>"
        f"<p>{escape(intro)}</p>"
        f'<section aria-labelledby="go-h-tel"><h2 id="go-h-tel">{phones}</h2>'
        f"<ul>{hotlines}</ul></section>"
        f'<section aria-labelledby="go-h-wise"><h2 id="go-h-wise">{wise}</h2>'
        f"<ul>{wisely}</ul></section>"
        + alertform.form_html(lang)
        + f'<section aria-labelledby="go-h-places"><h2 id="go-h-places">'
        f'{help_places}</h2><ul class="go-places">{places}</ul></section>'
        f'<section aria-labelledby="go-h-bus"><h2 id="go-h-bus">{bus}'
        f"</h2>{buses}</section>"
        f"<p>{escape(privacy)}</p>"
        f"<p><small>{escape(demo)} {common.ATTRIBUTION_HTML}</small></p>"
        "</aside>"
    )


def build(
    data: PublicData, *, now: datetime, streets: TileSet | None, lang: Lang = "pl"
) -> folium.Map:
    """One language variant of the public map (write each with FILE_NAMES[lang])."""
    _check(data)
    _ = translator(lang).gettext
    if now.tzinfo is None:
        msg = "now: needs a time zone (e.g. Europe/Warsaw)"
        raise ValueError(msg)
    # Start on a public place (not a computed centre that could fall anywhere); the view is
    # then fitted to the overlays in the browser.
    if data.facilities:
        start = (data.facilities[0].lat, data.facilities[0].lon)
    elif data.routes and data.routes[0].stops:
        start = (data.routes[0].stops[0].lat, data.routes[0].stops[0].lon)
    else:
        start = common.GDANSK_CENTRE
    m = common.new_map(
        streets=streets,
        lang=lang,
        title=_("Gdzie szukać pomocy – Gdańsk i Sopot"),
        location=start,
        zoom=13,
    )
    m.add_child(Stylesheet(PUBLIC_CSS))
    m.add_child(Stylesheet(alertform.ALERT_CSS))  # the alert form (issue 14)
    m.add_child(common.Script(alertform.ALERT_JS))
    root = m.get_root()
    assert isinstance(root, Figure)
    places = folium.FeatureGroup(name=_("Miejsca pomocy"), overlay=True, show=True)
    for f in data.facilities:
        icon = folium.DivIcon(
            html=(
                f'<div class="go-badge go-open" style="width:30px;height:30px;'
                f'background:#1f5f8b" data-facility="{escape(f.code)}" role="img" '
                f'aria-label="{escape(f.name)}">{_facility_letter(f, lang)}</div>'
            ),
            icon_size=(30, 30),
            icon_anchor=(15, 15),
        )
        folium.Marker(
            location=[f.lat, f.lon],
            icon=icon,
            tooltip=escape(f.name),
            popup=folium.Popup(
                "<div class='go-popup'><ul style='padding:0;list-style:none'>"
                + _facility_item(f, lang, now)
                + "</ul></div>",
                max_width=320,
            ),
        ).add_to(places)
    places.add_to(m)
    from maps.live import add_bus

    add_bus(m, data.routes, now=now, lang=lang)
    root.html.add_child(Element(aside_html(data, lang=lang, now=now)))
    folium.FitOverlays(padding=30).add_to(m)
    folium.LayerControl(position="topright", collapsed=True).add_to(m)
    return m
