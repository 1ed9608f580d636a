"""The one translation catalogue: complete in pl / en / uk, in step with the code, and used.

Texts are checked three ways: every msgid of the template has a real translation in each
language (plural forms included, placeholders kept); the template is what `pybabel extract`
finds in the code today; and every map, report and route sheet, rendered in each language from
plain data, asks the catalogue only for texts it has (a miss is an error under the test
settings) and shows no Polish text in English or Ukrainian.
"""

from __future__ import annotations

import ast
import html
import json
import re
import subprocess
import sys
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from geo_outreach.core import i18n
from geo_outreach.core.i18n import LANGS, Lang, MissingTranslation, translator
from geo_outreach.core.plan import LeftOut, Plan, PlannedStop, TeamRoute
from geo_outreach.core.vocab import FACILITY_TYPES, SITE_CATEGORIES
from geo_outreach.reports import render as report_render
from geo_outreach.reports import tables as reports
from geo_outreach.routing import exports
from maps import common, live, planner, public
from maps.model import (
    BusRoute,
    BusStop,
    District,
    FacilityPoint,
    LiveData,
    PublicData,
    SitePoint,
    VisitSummary,
)

ROOT = Path(__file__).resolve().parents[1]
POT = i18n.LOCALE_DIR / f"{i18n.DOMAIN}.pot"
# Python's %-placeholders and str.format fields: a translation must keep each one.
PLACEHOLDER = re.compile(r"%\(\w+\)[sdifr]|%[sdifr]|\{\w*\}")
TZ = ZoneInfo("Europe/Warsaw")
NOW = datetime(2025, 12, 15, 21, 30, tzinfo=TZ)


def load(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def keys(catalog: Catalog) -> set[tuple[str | None, str]]:
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id}


def forms(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


@pytest.mark.parametrize("lang", LANGS)
def test_every_text_is_translated(lang: Lang) -> None:
    template = load(POT)
    catalog = load(i18n.catalogue_path(lang), lang)
    assert len(template) > 150  # maps, reports and the route sheet, not an empty template
    missing, fuzzy, short = [], [], []
    for entry in template:
        if not entry.id:
            continue
        message = catalog.get(entry.id, context=entry.context)
        if message is None or not all(forms(message)):
            missing.append(entry.id)
        elif message.fuzzy:
            fuzzy.append(entry.id)
        elif entry.pluralizable and len(forms(message)) != catalog.num_plurals:
            short.append(entry.id)
    assert not missing, f"{lang}: untranslated: {missing}"
    assert not fuzzy, f"{lang}: fuzzy (not used until checked): {fuzzy}"
    assert not short, f"{lang}: want {catalog.num_plurals} plural forms: {short}"
    assert not catalog.obsolete, f"{lang}: obsolete entries: {list(catalog.obsolete)}"


@pytest.mark.parametrize("lang", ["en", "uk"])
def test_translations_are_not_polish_copies(lang: Lang) -> None:
    """English and Ukrainian differ from the Polish source except for names and shared words."""
    catalog = load(i18n.catalogue_path(lang), lang)
    same = sorted(m.id for m in catalog if m.id and isinstance(m.id, str) and m.string == m.id)
    # "status", "streetworker", "administrator", "MOPS" and the like read the same in English.
    assert len(same) <= 6, f"{lang}: copied from Polish: {same}"


@pytest.mark.parametrize("lang", LANGS)
def test_placeholders_match(lang: Lang) -> None:
    catalog = load(i18n.catalogue_path(lang), lang)
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        want = sorted(PLACEHOLDER.findall(ids[-1]))
        assert sorted(PLACEHOLDER.findall(ids[0])) == want, f"msgid forms differ: {ids}"
        wrong += [text for text in forms(message) if sorted(PLACEHOLDER.findall(text)) != want]
    assert not wrong, f"{lang}: placeholders differ from the msgid: {wrong}"


def test_catalogues_match_the_code(tmp_path: Path) -> None:
    """`pybabel extract` (settings in pyproject.toml) finds exactly the texts the .po files hold."""
    fresh = tmp_path / "fresh.pot"
    subprocess.run(
        [Path(sys.executable).with_name("pybabel"), "extract", "-o", fresh],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    in_code = keys(load(fresh))
    assert ("planned stop", "przyjazd") in in_code and ("", "Legenda") not in in_code
    assert keys(load(POT)) == in_code, "run `.venv/bin/pybabel extract` and `pybabel update`"
    for lang in LANGS:
        held = keys(load(i18n.catalogue_path(lang), lang))
        assert held == in_code, f"{lang}: added {in_code - held}, gone {held - in_code}"


def test_no_translated_literal_inside_an_f_string() -> None:
    """Babel does not look inside f-strings (Python 3.11): such a text would never be extracted."""
    calls = {"_", "gettext", "ngettext", "pgettext", "npgettext", "N_"}
    found = []
    for folder in ("geo_outreach", "maps"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.JoinedStr):
                    continue
                for call in ast.walk(node):
                    if not isinstance(call, ast.Call) or not call.args:
                        continue
                    name = getattr(call.func, "id", getattr(call.func, "attr", ""))
                    if name in calls and any(isinstance(a, ast.Constant) for a in call.args):
                        found.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not found, f"translated literal inside an f-string: {found}"


def test_plural_forms_follow_each_language() -> None:
    def stops(lang: Lang, n: int) -> str:
        text = translator(lang).ngettext("%(n)d przystanek", "%(n)d przystanki", n)
        return text % {"n": n}

    assert [stops("pl", n) for n in (1, 3, 5, 22)] == [
        "1 przystanek",
        "3 przystanki",
        "5 przystanków",
        "22 przystanki",
    ]
    assert [stops("uk", n) for n in (1, 3, 5, 21)] == [
        "1 зупинка",
        "3 зупинки",
        "5 зупинок",
        "21 зупинка",
    ]
    assert [stops("en", n) for n in (1, 2)] == ["1 stop", "2 stops"]


def test_a_missing_text_is_loud_and_falls_back_to_polish() -> None:
    with pytest.warns(MissingTranslation, match="uk: no translation of 'Tekst spoza katalogu'"):
        assert translator("uk").gettext("Tekst spoza katalogu") == "Tekst spoza katalogu"
    with pytest.raises(ValueError, match="lang: 'de' is not supported"):
        translator("de")  # type: ignore[arg-type]


# -- every output, in every language -------------------------------------------------------------


def _facilities() -> list[FacilityPoint]:
    every_night = tuple(
        {"byday": d, "opens_at": "20:00", "closes_at": "08:00"}
        for d in ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
    )
    weekdays = tuple(
        {"byday": d, "opens_at": "08:00", "closes_at": "16:00"} for d in ("MO", "TU", "WE")
    )
    return [
        FacilityPoint(
            "F1", "Ogrzewalnia A", "ogrzewalnia", 18.6, 54.37, "ul. Długa 1", "58 111 22 33",
            30, 5, NOW - timedelta(hours=2), every_night, "11-01", "03-31", True, False,
        ),
        FacilityPoint(
            "F2", "Jadłodajnia B", "jadlodajnia", 18.61, 54.38, "ul. Krótka 2", None,
            None, None, None, weekdays, None, None, True, False,
        ),
    ]  # fmt: skip


def _bus() -> list[BusRoute]:
    stops = [
        BusStop(1, "Dworzec", 18.6, 54.37, time(20, 0), time(20, 20)),
        BusStop(2, "Plac", 18.62, 54.38, time(21, 0), time(21, 40)),
    ]
    coords = [(18.6, 54.37), (18.62, 54.38)]
    return [BusRoute("Linia SOS", "11-01", "03-31", coords, stops)]


def _sites() -> list[SitePoint]:
    visit = VisitSummary(NOW - timedelta(days=1), 2, ("hot_meal",))
    return [
        SitePoint(
            uuid.UUID(int=i), f"S-{i}", f"Site {i}", category, status, 18.6 + i / 100, 54.37,
            i, hazards, NOW - timedelta(days=5 * i), "Wrzeszcz", (visit,),
        )
        for i, (category, status, hazards) in enumerate(
            [("pustostan", "active", ("fire",)), ("las", "seasonal", ())], start=1
        )
    ]  # fmt: skip


def _plan() -> Plan:
    def stop(i: int) -> PlannedStop:
        arrive = NOW + timedelta(minutes=20 * i)
        return PlannedStop(
            i, None, f"S-{i}", f"Site {i}", 18.6 + i / 100, 54.38, arrive,
            arrive + timedelta(minutes=10), 10, 2, ("fire",),
        )  # fmt: skip

    routes = [
        TeamRoute(
            team, f"Zespół {team}", (18.6, 54.37), (18.6, 54.37), NOW, NOW + timedelta(hours=3),
            [stop(i) for i in range(1, n + 1)], 5300.0, 9000.0, [(18.6, 54.37), (18.61, 54.38)],
        )
        for team, n in ((1, 1), (2, 5))
    ]  # fmt: skip
    left = [
        LeftOut(None, "S-9", "Far", 18.7, 54.4, reason)
        for reason in ("unreachable", "no_time", "lower_priority")
    ]
    return Plan("akcja-zima", NOW, NOW + timedelta(hours=8), routes, left, extra_teams_needed=2)


def _report_data() -> reports.ReportData:
    return reports.ReportData(
        year=2025,
        years=[2024, 2025],
        generated_at=NOW,
        timezone="Europe/Warsaw",
        patrols={("joint", "patrols"): {2025: 3}, ("joint", "hours"): {2025: 4.5}},
        patrol_years={2024, 2025},
        contacts={"visits": {2025: 5}, "people_referred": {2025: 2}},
        contact_years={2025},
        referrals={"noclegownia": {2025: 1}, reports.UNSPECIFIED: {2025: 1}},
        sos_bus={"duties": {2025: 2}, "uses": {2025: 9}},
        sos_years={2025},
        sites={"pustostan": {"active": 2}, "las": {"closed": 1}},
        monthly_patrols={"joint": [1] * 12, reports.NO_PATROL: [1] * 12},
        monthly_contacts={"joint": [2] * 12},
        monthly_sos={"duties": [1] * 12, "uses": [2] * 12, "meals": [3] * 12},
        demo_rows=5,
    )


def _readable(text: str) -> str:
    """Page source as a reader sees it: JSON \\u escapes and HTML entities decoded."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return html.unescape(text)


def _outputs(lang: Lang, folder: Path) -> str:
    """Everything people read, from the maps, the report and the route sheet, in `lang`."""
    plan = _plan()
    parts = [
        common.render(
            live.build(
                LiveData(_sites(), _facilities(), _bus(), [District("Wrzeszcz", None, {})]),
                now=NOW,
                streets=None,
                lang=lang,
            )
        ).html,
        common.render(planner.build(plan, streets=None, lang=lang)).html,
        common.render(
            public.build(PublicData(_facilities(), _bus()), now=NOW, streets=None, lang=lang)
        ).html,
        exports.route_sheet_html(plan, lang=lang),
        exports.team_gpx(plan, plan.routes[0], lang=lang),
    ]
    files = report_render.write_report(_report_data(), folder, lang=lang)
    parts += [files.html.read_text(encoding="utf-8"), files.markdown.read_text(encoding="utf-8")]
    parts += [path.read_text(encoding="utf-8-sig") for path in files.csv]
    night = reports.CountNight(
        date(2025, 12, 15), NOW, NOW, [reports.CountNightRow("las", 1, 2, 1, 1, 1, 0)]
    )
    parts.append(json.dumps(report_render.count_night_rows(night, lang=lang), ensure_ascii=False))
    return _readable("\n".join(parts))


@pytest.mark.parametrize("lang", ["en", "uk"])
def test_outputs_show_no_polish_text(lang: Lang, tmp_path: Path) -> None:
    """No catalogue miss (an error here) and no Polish text left in English or Ukrainian output."""
    shown = _outputs(lang, tmp_path)
    polish = load(i18n.catalogue_path("pl"), "pl")
    catalog = load(i18n.catalogue_path(lang), lang)
    codes = {c for vocab in (SITE_CATEGORIES, FACILITY_TYPES) for c in vocab}  # CSV code column
    # Polish texts that this language writes differently, long enough not to be part of a word.
    leftovers = [
        m.id
        for m in polish
        if isinstance(m.id, str)
        and len(m.id) > 6
        and "%" not in m.id
        and m.id not in codes
        and m.id not in catalog.get(m.id, context=m.context).string  # "Akcja Zima (cold night)"
        and m.id in shown
    ]
    assert not leftovers, f"{lang}: Polish text in the output: {leftovers}"
    _ = translator(lang).gettext
    for word in ("Legenda", "Zespoły", "Telefony", "Plan tras", "razem", "Tabele"):
        assert _(word) in shown, word


def test_polish_outputs_use_the_catalogue(tmp_path: Path) -> None:
    shown = _outputs("pl", tmp_path)
    assert "Zespół 1: 1 przystanek" in shown and "Zespół 2: 5 przystanków" in shown
    assert "5.3 km, 1 miejsce." in shown and "potrzeba jeszcze 2 zespołów." in shown
    assert "pon.–śr. 08:00–16:00" in shown and "codziennie 20:00–08:00" in shown
