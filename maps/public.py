"""The public campaign map: where to find help, the SOS bus, who to call, how to help wisely.

It never holds a sleeping site, a patrol, a visit or any statistic: it is built from public,
non-confidential facilities and the SOS bus only, and refuses anything else. Beside the map an
accessible HTML list gives the same places with addresses and hours (Polish accessibility law for
public bodies), so the page works without the map too. Polish by default, English and Ukrainian.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

import folium
from branca.element import Element, Figure

from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.core.vocab import FACILITY_TYPES, Lang, label
from maps import common
from maps.common import Stylesheet, pick, t
from maps.model import BusRoute, FacilityPoint, PublicData
from maps.streets import TileSet

LANGS: tuple[Lang, ...] = ("pl", "en", "uk")
FILE_NAMES = {"pl": "public.html", "en": "public.en.html", "uk": "public.uk.html"}
LANG_NAMES = {"pl": "Polski", "en": "English", "uk": "Українська"}

T = {
    "title": (
        "Gdzie szukać pomocy – Gdańsk i Sopot",
        "Where to find help – Gdańsk and Sopot",
        "Де шукати допомогу – Гданськ і Сопот",
    ),
    "intro": (
        "Ogrzewalnie, noclegownie, jadłodajnie i autobus SOS. Jeśli ktoś marznie – nie przechodź"
        " obojętnie.",
        "Warming centres, night shelters, soup kitchens and the SOS bus. If someone is freezing,"
        " do not walk past.",
        "Пункти обігріву, нічліжки, їдальні та автобус SOS. Якщо хтось мерзне – не проходьте повз.",
    ),
    "hotlines": ("Telefony", "Phone numbers", "Телефони"),
    "emergency": (
        "numer alarmowy – zagrożenie życia, wychłodzenie",
        "emergency number – life in danger, hypothermia",
        "номер екстреної допомоги – загроза життю, переохолодження",
    ),
    "guard": (
        "Straż Miejska – zgłoś osobę potrzebującą pomocy",
        "City Guard – report a person who needs help",
        "Міська варта – повідомте про людину, якій потрібна допомога",
    ),
    "demo_line": (
        "Infolinia pomocy osobom w kryzysie bezdomności (numer demonstracyjny)",
        "Helpline for people experiencing homelessness (demonstration number)",
        "Гаряча лінія для людей у кризі безпритульності (демонстраційний номер)",
    ),
    "wisely": ("Pomagaj mądrze", "Help wisely", "Допомагай мудро"),
    "places": ("Miejsca pomocy", "Places of help", "Місця допомоги"),
    "bus_title": ("Autobus SOS – rozkład", "SOS bus – timetable", "Автобус SOS – розклад"),
    "stop": ("przystanek", "stop", "зупинка"),
    "privacy": (
        "Ta mapa celowo nie pokazuje miejsc, w których nocują osoby w kryzysie bezdomności.",
        "This map deliberately does not show where people experiencing homelessness sleep.",
        "Ця мапа навмисно не показує місць, де ночують люди в кризі безпритульності.",
    ),
    "language": ("Język", "Language", "Мова"),
    "map_label": ("Mapa miejsc pomocy", "Map of places of help", "Мапа місць допомоги"),
    "demo": (
        "Dane demonstracyjne: nazwy, adresy i numery placówek są przykładowe.",
        "Demonstration data: facility names, addresses and numbers are examples.",
        "Демонстраційні дані: назви, адреси та номери закладів є прикладами.",
    ),
}

WISELY = (
    (
        "Jeśli widzisz osobę, która może marznąć – zapytaj, czy potrzebuje pomocy.",
        "If you see someone who may be freezing, ask whether they need help.",
        "Якщо бачите людину, яка може замерзати, запитайте, чи потрібна їй допомога.",
    ),
    (
        "Gdy życie jest zagrożone (nie reaguje, jest wychłodzona) – dzwoń 112.",
        "If a life is at risk (no response, hypothermia), call 112.",
        "Якщо життя під загрозою (не реагує, переохолоджена) – телефонуйте 112.",
    ),
    (
        "Gdy ktoś potrzebuje pomocy, ale nie ma zagrożenia życia – zadzwoń do Straży Miejskiej"
        " (986).",
        "If someone needs help but life is not at risk, call the City Guard (986).",
        "Якщо людині потрібна допомога, але життю ніщо не загрожує, телефонуйте до Міської варти"
        " (986).",
    ),
    (
        "Zamiast pieniędzy daj ciepły napój, posiłek lub ciepłe ubranie; powiedz o ogrzewalni i"
        " autobusie SOS.",
        "Instead of money, give a hot drink, a meal or warm clothes; tell them about the warming"
        " centre and the SOS bus.",
        "Замість грошей дайте теплий напій, їжу або теплий одяг; розкажіть про пункт обігріву та"
        " автобус SOS.",
    ),
    (
        "Szanuj prywatność: nie fotografuj, nie publikuj zdjęć ani miejsc, w których ktoś nocuje.",
        "Respect privacy: do not photograph people or publish photos or the places where someone"
        " sleeps.",
        "Поважайте приватність: не фотографуйте і не публікуйте фото чи місця, де хтось ночує.",
    ),
)

# Real national numbers, plus one clearly marked placeholder.
HOTLINES = (
    ("112", "emergency"),
    ("986", "guard"),
    ("+48 58 000 00 00", "demo_line"),
)

PUBLIC_CSS = common.assets.register(
    "geo-outreach-public.css",
    """
html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: row; font-family: "DejaVu Sans", "Liberation Sans",
  Arial, sans-serif; color: #1b1b1b; }
/* The list comes first in the page (screen readers, keyboards), the map first on screen. */
body > .folium-map { order: 1; flex: 3 1 0; height: 100% !important; width: auto !important;
  position: relative !important; }
.go-aside { order: 2; flex: 2 1 0; max-width: 560px; overflow-y: auto; padding: 12px 18px;
  box-sizing: border-box; font-size: 16px; line-height: 1.5; background: #fff; }
.go-aside h1 { font-size: 1.4em; margin: 0.2em 0 0.4em; }
.go-aside h2 { font-size: 1.15em; margin: 1.2em 0 0.4em; border-bottom: 2px solid #1f5f8b; }
.go-aside h3 { font-size: 1em; margin: 0.8em 0 0.2em; }
.go-aside a { color: #0b4f82; }
.go-aside a:focus, .go-aside button:focus { outline: 3px solid #e67e22; outline-offset: 2px; }
.go-aside table { border-collapse: collapse; width: 100%; }
.go-aside th, .go-aside td { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; }
.go-aside dl { margin: 0; } .go-aside dt { font-weight: bold; } .go-aside dd { margin: 0 0 4px; }
.go-places > li { margin-bottom: 0.8em; }
.go-lang a[aria-current="page"] { font-weight: bold; text-decoration: none; color: #1b1b1b; }
.go-skip { position: absolute; left: -9999px; top: 0; }
.go-tel { font-size: 1.2em; font-weight: bold; }
@media (max-width: 720px) {
  body { flex-direction: column; height: auto; }
  body > .folium-map { flex: none; height: 60vh !important; width: 100% !important; }
  .go-aside { max-width: none; overflow: visible; }
}
""",
)


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
    hours = common.hours_text(f.opening_hours, lang)
    parts = [f"<h3>{escape(f.name)}</h3><dl>"]
    parts.append(f"<dt>{escape(label(FACILITY_TYPES, f.type, lang))}</dt><dd></dd>")
    if f.address:
        parts.append(f"<dt>{t('address', lang)}</dt><dd>{escape(f.address)}</dd>")
    if hours:
        parts.append(f"<dt>{t('hours', lang)}</dt><dd>{escape(hours)}</dd>")
    if f.season_from and f.season_to:
        parts.append(f"<dt>{t('season', lang)}</dt><dd>{f.season_from} – {f.season_to}</dd>")
    if f.phone:
        tel = f.phone.replace(" ", "")
        parts.append(
            f'<dt>{t("phone", lang)}</dt><dd><a href="tel:{escape(tel)}">{escape(f.phone)}</a></dd>'
        )
    parts.append("</dl>")
    return "<li>" + "".join(parts) + "</li>"


def _bus_table(route: BusRoute, lang: Lang, now: datetime) -> str:
    rows = "".join(
        f"<tr><td>{s.seq}. {escape(s.name)}</td><td>{common.clock(s.arrive)}</td>"
        f"<td>{common.clock(s.depart)}</td>"
        f"<td>{escape(common.departure_text(common.next_departure(route, s, now), now, lang))}"
        "</td></tr>"
        for s in route.stops
    )
    season = f"{route.season_start:%d.%m.%Y} – {route.season_end:%d.%m.%Y}"
    return (
        f"<h3>{escape(route.name)}</h3><p>{t('season', lang)}: {season}</p>"
        f"<table><caption class='go-skip'>{escape(route.name)}</caption><thead><tr>"
        f'<th scope="col">{pick(T["stop"], lang)}</th><th scope="col">{t("arrive", lang)}</th>'
        f'<th scope="col">{t("depart", lang)}</th>'
        f'<th scope="col">{t("next_departure", lang)}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def aside_html(data: PublicData, *, lang: Lang, now: datetime) -> str:
    """The accessible list beside the map (also the whole page for screen-reader users)."""
    langs = " · ".join(
        f'<a href="{FILE_NAMES[code]}" lang="{code}" hreflang="{code}"'
        + (' aria-current="page"' if code == lang else "")
        + f">{LANG_NAMES[code]}</a>"
        for code in LANGS
    )
    hotlines = "".join(
        f'<li><a class="go-tel" href="tel:{n.replace(" ", "")}">{n}</a> – {pick(T[key], lang)}</li>'
        for n, key in HOTLINES
    )
    wisely = "".join(f"<li>{escape(pick(item, lang))}</li>" for item in WISELY)
    places = "".join(_facility_item(f, lang, now) for f in data.facilities)
    buses = "".join(_bus_table(r, lang, now) for r in data.routes)
    return (
        '<aside class="go-aside" id="go-list">'
        f'<nav class="go-lang" aria-label="{pick(T["language"], lang)}">{langs}</nav>'
        f"<h1>{escape(pick(T['title'], lang))}</h1>"
        f"<p>{escape(pick(T['intro'], lang))}</p>"
        f'<section aria-labelledby="go-h-tel"><h2 id="go-h-tel">{pick(T["hotlines"], lang)}</h2>'
        f"<ul>{hotlines}</ul></section>"
        f'<section aria-labelledby="go-h-wise"><h2 id="go-h-wise">{pick(T["wisely"], lang)}</h2>'
        f"<ul>{wisely}</ul></section>"
        f'<section aria-labelledby="go-h-places"><h2 id="go-h-places">'
        f'{pick(T["places"], lang)}</h2><ul class="go-places">{places}</ul></section>'
        f'<section aria-labelledby="go-h-bus"><h2 id="go-h-bus">{pick(T["bus_title"], lang)}'
        f"</h2>{buses}</section>"
        f"<p>{escape(pick(T['privacy'], lang))}</p>"
        f"<p><small>{escape(pick(T['demo'], lang))} {common.ATTRIBUTION_HTML}</small></p>"
        "</aside>"
    )


def build(
    data: PublicData, *, now: datetime, streets: TileSet | None, lang: Lang = "pl"
) -> folium.Map:
    """One language variant of the public map (write each with FILE_NAMES[lang])."""
    _check(data)
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
        streets=streets, lang=lang, title=pick(T["title"], lang), location=start, zoom=13
    )
    m.add_child(Stylesheet(PUBLIC_CSS))
    root = m.get_root()
    assert isinstance(root, Figure)
    places = folium.FeatureGroup(name=pick(T["places"], lang), overlay=True, show=True)
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
            tooltip=f.name,
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
