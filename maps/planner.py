"""The planner's map: each team's route along the streets in its own colour, numbered stops with
ETAs and the direction of travel, sites left out with the reason, district boundaries, a heat
layer of people (H3 resolution 8 or coarser, cells under 5 suppressed) and a drawing tool that
exports a sketched route or area as GeoJSON. Internal use only.
"""

from __future__ import annotations

from collections.abc import Iterable

import folium
from folium.plugins import Draw, PolyLineTextPath
from folium.template import Template

from geo_outreach.core.i18n import translator
from geo_outreach.core.plan import LEFT_OUT_LABELS, Plan, TeamRoute
from geo_outreach.core.privacy import heat_cells
from geo_outreach.core.vocab import HAZARDS, Lang, label
from maps import common
from maps.common import TEAM_COLOURS, Legend
from maps.escape import escape
from maps.live import add_districts
from maps.model import District
from maps.streets import TileSet

HEAT_RESOLUTION = 8
HEAT_MIN_COUNT = 5
LEFT_OUT_COLOUR = "#e74c3c"


class DrawLabels(folium.MacroElement):
    """Translates the drawing toolbar and the export link (runs right after the Draw control)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        ;(function () {
            var b = L.drawLocal.draw.toolbar.buttons;
            {%- for key, text in this.buttons.items() %}
            b[{{ key|tojson }}] = {{ text|tojson }};
            {%- endfor %}
            var link = document.getElementById('export');
            if (link) { link.textContent = {{ this.export|tojson }}; }
        })();
        {% endmacro %}
        """
    )

    def __init__(self, *, buttons: dict[str, str], export: str) -> None:
        super().__init__()
        self._name = "DrawLabels"
        self.buttons = buttons
        self.export = export


def team_colour(team: int) -> str:
    return TEAM_COLOURS[(team - 1) % len(TEAM_COLOURS)]


def _route_line(route: TeamRoute) -> list[tuple[float, float]]:
    """lat/lon for Leaflet; without a street geometry, depot → stops → depot straight."""
    coords = route.geometry or [route.start, *((s.lon, s.lat) for s in route.stops), route.end]
    return [(lat, lon) for lon, lat in coords]


def team_name(route: TeamRoute, lang: Lang) -> str:
    """The planner's default name ("Zespół 2", stored in Polish) in `lang`; any other name as is."""
    default = "Zespół %(n)d"  # the msgid geo_outreach.routing.planner names teams with
    n = {"n": route.team}
    if route.name != translator("pl").gettext(default) % n:
        return route.name
    return translator(lang).gettext(default) % n


def _stops(n: int, lang: Lang) -> str:
    return translator(lang).ngettext("%(n)d przystanek", "%(n)d przystanki", n) % {"n": n}


def _add_route(m: folium.Map, route: TeamRoute, *, lang: Lang) -> None:
    tr = translator(lang)
    _ = tr.gettext
    colour = team_colour(route.team)
    back, depot = _("powrót"), _("start / meta")
    service, people, hazards_head = _("obsługa"), _("osoby (szac.)"), _("zagrożenia")
    name = escape(
        f"{team_name(route, lang)}: {_stops(len(route.stops), lang)}, "
        f"{route.distance_m / 1000:.1f} km, {back} {route.back:%H:%M}"
    )
    group = folium.FeatureGroup(name=name, overlay=True, show=True)
    line = folium.PolyLine(_route_line(route), color=colour, weight=5, opacity=0.85)
    line.add_to(group)
    # Arrow glyphs along the line show which way the team walks.
    PolyLineTextPath(
        line,
        "      ►      ",
        repeat=True,
        offset=5,
        attributes={"fill": colour, "font-size": "13", "font-weight": "bold"},
    ).add_to(group)
    depot_icon = folium.DivIcon(
        html=(
            f'<div class="go-badge" style="width:26px;height:26px;background:{colour}" '
            f'data-depot="{route.team}">S</div>'
        ),
        icon_size=(26, 26),
        icon_anchor=(13, 13),
    )
    folium.Marker(
        location=[route.start[1], route.start[0]],
        icon=depot_icon,
        tooltip=escape(f"{team_name(route, lang)} – {depot} {route.depart:%H:%M}"),
    ).add_to(group)
    eta = tr.pgettext("planned stop", "przyjazd")  # English says ETA here, not "arrives"
    for stop in route.stops:
        hazards = ", ".join(label(HAZARDS, h, lang) for h in stop.hazards if h in HAZARDS)
        popup = (
            f'<div class="go-popup"><h3>{stop.seq}. {escape(stop.code)} · {escape(stop.name)}'
            f"</h3><table>"
            f'<tr><th scope="row">{eta}</th><td>{stop.arrive:%H:%M}</td></tr>'
            f'<tr><th scope="row">{service}</th>'
            f"<td>{stop.service_minutes} min</td></tr>"
            f'<tr><th scope="row">{people}</th><td>{stop.estimated_people}</td></tr>'
            + (
                f'<tr><th scope="row">{hazards_head}</th><td>{escape(hazards)}</td></tr>'
                if hazards
                else ""
            )
            + "</table></div>"
        )
        common.numbered_stop(
            lat=stop.lat,
            lon=stop.lon,
            number=stop.seq,
            colour=colour,
            data=f'data-team="{route.team}" data-seq="{stop.seq}"',
            tooltip=escape(f"{stop.seq}. {stop.code} – {eta} {stop.arrive:%H:%M}"),
            popup=popup,
        ).add_to(group)
    group.add_to(m)


def _add_heat(m: folium.Map, points: Iterable[tuple[float, float, int]], *, lang: Lang) -> int:
    _ = translator(lang).gettext
    cells = heat_cells(points, resolution=HEAT_RESOLUTION, min_count=HEAT_MIN_COUNT)
    if not cells:
        return 0
    top = max(c.count for c in cells)
    features = [
        {
            "type": "Feature",
            "properties": {"cell": c.cell, "count": c.count, "weight": c.count / top},
            "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in c.boundary]]},
        }
        for c in cells
    ]
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=_("Osoby (H3, komórki < 5 ukryte)"),
        show=True,
        style_function=lambda f: {
            "color": "#7b241c",
            "weight": 0.5,
            "fillColor": "#c0392b",
            "fillOpacity": 0.15 + 0.5 * f["properties"]["weight"],
        },
        tooltip=folium.GeoJsonTooltip(fields=["count"], aliases=[_("osoby (szac.)")]),
    ).add_to(m)
    return len(cells)


def _legend(plan: Plan, lang: Lang) -> str:
    _ = translator(lang).gettext
    teams = [
        f'<span class="go-swatch" style="background:{team_colour(r.team)}"></span>'
        f"{escape(team_name(r, lang))}: {_stops(len(r.stops), lang)}, "
        f"{r.depart:%H:%M}–{r.back:%H:%M}"
        for r in plan.routes
    ]
    left = [
        f'<span class="go-ring" style="border-color:{LEFT_OUT_COLOUR}"></span>'
        f"{escape(lo.code)}: {_(LEFT_OUT_LABELS[lo.reason])}"
        for lo in plan.left_out
    ]
    notes = [escape(n) for n in plan.notes]
    if plan.extra_teams_needed:
        extra = _("brakuje zespołów do objęcia wszystkich miejsc")
        notes.append(f"+{plan.extra_teams_needed}: {extra}")
    window = _("okno") + f" {plan.window_start:%d.%m %H:%M}–{plan.window_end:%H:%M}"
    sections = [(_("Zespoły"), [window, *teams])]
    if left:
        sections.append((_("Pominięte miejsca"), left))
    if notes:
        sections.append(("", notes))
    return common.legend_html(_("Legenda"), sections)


def build(
    plan: Plan,
    *,
    heat_points: Iterable[tuple[float, float, int]] = (),
    districts: list[District] | None = None,
    streets: TileSet | None,
    lang: Lang = "pl",
) -> folium.Map:
    """The plan on a map. Heat points are (lon, lat, people); only aggregated cells are drawn."""
    _ = translator(lang).gettext
    if plan.routes:
        start = (plan.routes[0].start[1], plan.routes[0].start[0])
    elif plan.left_out:
        start = (plan.left_out[0].lat, plan.left_out[0].lon)
    else:
        start = common.GDANSK_CENTRE
    m = common.new_map(
        streets=streets, lang=lang, title=_("Plan patrolu – mapa"), location=start, zoom=14
    )
    add_districts(m, districts or [], lang=lang, show=True)
    _add_heat(m, heat_points, lang=lang)
    for route in plan.routes:
        _add_route(m, route, lang=lang)
    if plan.left_out:
        group = folium.FeatureGroup(name=_("Pominięte miejsca"), overlay=True, show=True)
        for lo in plan.left_out:
            reason = _(LEFT_OUT_LABELS[lo.reason])
            folium.CircleMarker(
                location=[lo.lat, lo.lon],
                radius=11,
                color=LEFT_OUT_COLOUR,
                weight=3,
                dash_array="4 4",
                fill=True,
                fill_opacity=0.15,
                tooltip=escape(f"{lo.code} {lo.name}: {reason}"),
                class_name="go-left-out",
            ).add_to(group)
        group.add_to(m)
    Draw(
        export=True,
        filename="szkic.geojson",
        show_geometry_on_click=False,
        position="topleft",
        draw_options={
            "polyline": True,
            "polygon": True,
            "rectangle": True,
            "marker": True,
            "circle": False,
            "circlemarker": False,
        },
    ).add_to(m)
    m.add_child(
        DrawLabels(
            # Leaflet.draw reads the toolbar's words from L.drawLocal.
            buttons={
                "polyline": _("Narysuj trasę"),
                "polygon": _("Zaznacz obszar"),
                "rectangle": _("Zaznacz prostokąt"),
                "marker": _("Postaw punkt"),
            },
            export=_("Eksportuj szkic (GeoJSON)"),
        )
    )
    m.add_child(Legend(_legend(plan, lang)))
    view = [p for r in plan.routes for p in _route_line(r)] + [
        (lo.lat, lo.lon) for lo in plan.left_out
    ]
    if view:
        lats, lons = [p[0] for p in view], [p[1] for p in view]
        m.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]], padding=(30, 30))
    folium.LayerControl(position="topright", collapsed=True).add_to(m)
    return m
