"""A plan as files for the teams: GeoJSON, GPX (for phones) and a printable route sheet (Polish by
default; its texts come from the translation catalogue, so en and uk work too).

These files are for the teams on the route only: they hold site positions and must never be
published. Each carries the OSM attribution because the routes are drawn on OSM streets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gpxpy.gpx

from geo_outreach.core.i18n import Lang, translator
from geo_outreach.core.plan import LEFT_OUT_LABELS, Plan, TeamRoute
from geo_outreach.core.vocab import HAZARDS, PATROL_KINDS, label
from maps.escape import escape

MODE_KIND = {
    "streetwork": "streetwork",
    "joint": "joint",
    "akcja-zima": "akcja_zima",
    "inspection": "inspection",
    "sos-bus": "sos_bus",
}


def plan_geojson(plan: Plan) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for r in plan.routes:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [list(p) for p in r.geometry]},
                "properties": {
                    "kind": "route",
                    "team": r.team,
                    "name": r.name,
                    "depart": r.depart.isoformat(),
                    "back": r.back.isoformat(),
                    "distance_m": round(r.distance_m),
                    "duration_min": round(r.duration_s / 60),
                    "stops": len(r.stops),
                },
            }
        )
        for s in r.stops:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
                    "properties": {
                        "kind": "stop",
                        "team": r.team,
                        "seq": s.seq,
                        # The console adjusts a plan per site (require, exclude, lock).
                        "site_id": None if s.site_id is None else str(s.site_id),
                        "code": s.code,
                        "name": s.name,
                        "arrive": s.arrive.isoformat(),
                        "depart": s.depart.isoformat(),
                        "service_minutes": s.service_minutes,
                        "estimated_people": s.estimated_people,
                        "hazards": list(s.hazards),
                    },
                }
            )
    for left in plan.left_out:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [left.lon, left.lat]},
                "properties": {
                    "kind": "left_out",
                    "code": left.code,
                    "name": left.name,
                    "reason": left.reason,
                    "reason_pl": translator("pl").gettext(LEFT_OUT_LABELS[left.reason]),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "attribution": plan.attribution,
        "mode": plan.mode,
        "window": [plan.window_start.isoformat(), plan.window_end.isoformat()],
        "extra_teams_needed": plan.extra_teams_needed,
        "features": features,
    }


def _map_data(plan: Plan, lang: Lang) -> str:
    return translator(lang).gettext("Dane mapy %(attribution)s") % {"attribution": plan.attribution}


def team_gpx(plan: Plan, route: TeamRoute, *, lang: Lang = "pl") -> str:
    tr = translator(lang)
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "geo-outreach"
    gpx.name = f"{route.name} – {plan.window_start:%Y-%m-%d %H:%M}"
    gpx.description = tr.gettext("Trasa wzdłuż ulic.") + f" {_map_data(plan, lang)}."
    eta = tr.pgettext("planned stop", "przyjazd")
    for s in route.stops:
        gpx.waypoints.append(
            gpxpy.gpx.GPXWaypoint(
                latitude=s.lat,
                longitude=s.lon,
                name=f"{s.seq}. {s.code}",
                description=f"{s.name}; {eta} {s.arrive:%H:%M}, {s.service_minutes} min",
                time=s.arrive,
            )
        )
    track = gpxpy.gpx.GPXTrack(name=route.name)
    segment = gpxpy.gpx.GPXTrackSegment()
    segment.points.extend(gpxpy.gpx.GPXTrackPoint(lat, lon) for lon, lat in route.geometry)
    track.segments.append(segment)
    gpx.tracks.append(track)
    return gpx.to_xml()


def route_sheet_html(
    plan: Plan, *, lang: Lang = "pl", members: dict[int, list[str]] | None = None
) -> str:
    """A printable sheet: one table per team (with its members when named), then the sites
    left out and why."""
    tr = translator(lang)
    _ = tr.gettext
    e = escape
    kind = label(PATROL_KINDS, MODE_KIND[plan.mode], lang)
    title = _("Plan tras")
    shift = _("Zmiana %(start)s – %(end)s.") % {
        "start": f"{plan.window_start:%d.%m.%Y %H:%M}",
        "end": f"{plan.window_end:%d.%m.%Y %H:%M}",
    }
    teams = _("Zespołów: %(teams)d.") % {"teams": len(plan.routes)}
    internal = _(
        "Dokument wewnętrzny: zawiera położenie miejsc niemieszkalnych – nie publikować, zniszczyć"
        " po zmianie."
    )
    parts = [
        "<!doctype html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)} – {e(kind)} – {plan.window_start:%d.%m.%Y}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;"
        "width:100%;margin-bottom:1.5em}th,td{border:1px solid #888;padding:.3em .5em;"
        "text-align:left}th{background:#eee}@media print{h2{page-break-before:always}"
        "h2:first-of-type{page-break-before:avoid}}</style></head><body>",
        f"<h1>{e(title)}: {e(kind)}</h1>",
        f"<p>{e(shift)} {e(teams)} {e(internal)}</p>",
    ]
    if plan.extra_teams_needed:
        extra = tr.ngettext(
            "Nie wszystkie miejsca zmieszczą się w zmianie: potrzeba jeszcze %(n)d zespołu.",
            "Nie wszystkie miejsca zmieszczą się w zmianie: potrzeba jeszcze %(n)d zespołów.",
            plan.extra_teams_needed,
        ) % {"n": plan.extra_teams_needed}
        parts.append(f"<p><strong>{e(extra)}</strong></p>")
    head = (
        _("Nr"),
        tr.pgettext("planned stop", "Przyjazd"),
        _("Miejsce"),
        _("Kod"),
        _("Osoby (szac.)"),
        _("Zagrożenia"),
        _("Czas [min]"),
        _("Uwagi"),
    )
    for r in plan.routes:
        times = _("Wyjazd %(depart)s, powrót %(back)s") % {
            "depart": f"{r.depart:%H:%M}",
            "back": f"{r.back:%H:%M}",
        }
        n = len(r.stops)
        sites = tr.ngettext("%(n)d miejsce", "%(n)d miejsca", n) % {"n": n}
        parts.append(
            f"<h2>{e(r.name)}</h2><p>{e(times)}; {r.distance_m / 1000:.1f} km, {e(sites)}.</p>"
        )
        crew = (members or {}).get(r.team)
        if crew:
            who = _("Skład zespołu: %(members)s") % {"members": ", ".join(crew)}
            parts.append(f"<p>{e(who)}</p>")
        parts.append(
            "<table><thead><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in head)
            + "</tr></thead><tbody>"
        )
        for s in r.stops:
            hazards = ", ".join(label(HAZARDS, h, lang) for h in s.hazards if h in HAZARDS) or "–"
            parts.append(
                f"<tr><td>{s.seq}</td><td>{s.arrive:%H:%M}</td><td>{e(s.name)}</td>"
                f"<td>{e(s.code)}</td><td>{s.estimated_people}</td><td>{e(hazards)}</td>"
                f"<td>{s.service_minutes}</td><td></td></tr>"
            )
        parts.append("</tbody></table>")
    if plan.left_out:
        left_head = (_("Kod"), _("Miejsce"), _("Powód"))
        parts.append(
            "<h2>"
            + e(_("Miejsca poza planem"))
            + "</h2><table><thead><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in left_head)
            + "</tr></thead><tbody>"
        )
        for left in plan.left_out:
            parts.append(
                f"<tr><td>{e(left.code)}</td><td>{e(left.name)}</td>"
                f"<td>{e(_(LEFT_OUT_LABELS[left.reason]))}</td></tr>"
            )
        parts.append("</tbody></table>")
    for note in plan.notes:
        parts.append(f"<p>{e(note)}</p>")
    parts.append(f"<footer><small>{e(_map_data(plan, lang))}</small></footer></body></html>")
    return "\n".join(parts)


def write_plan(plan: Plan, out: Path) -> list[Path]:
    """Write plan.geojson, one GPX per team and trasa.html into `out`; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "plan.geojson"]
    written[0].write_text(json.dumps(plan_geojson(plan), ensure_ascii=False), encoding="utf-8")
    for r in plan.routes:
        path = out / f"zespol-{r.team}.gpx"
        path.write_text(team_gpx(plan, r), encoding="utf-8")
        written.append(path)
    sheet = out / "trasa.html"
    sheet.write_text(route_sheet_html(plan), encoding="utf-8")
    written.append(sheet)
    return written
