"""Yearly report and count night on the demo year (2025), checked against SQL written here.

The expected figures are counted independently in this file (different SQL, and Python where the
rule is subtle), never copied from the module under test.
"""

from __future__ import annotations

import csv
import re
import struct
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from geo_outreach.core.i18n import LANGS
from geo_outreach.core.vocab import (
    FACILITY_TYPES,
    PATROL_KINDS,
    SITE_CATEGORIES,
    SITE_STATUSES,
    label,
)
from geo_outreach.reports import render as report_render
from geo_outreach.reports import tables as reports
from geo_outreach.reports.tables import ReportTable
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import cli_env, run_cli

YEAR = 2025
TZ = "Europe/Warsaw"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=ZoneInfo(TZ))


def scalar(session: Session, sql: str, **params: Any) -> Any:
    return session.execute(text(sql), params).scalar_one()


def by_key(tables: list[ReportTable], key: str) -> ReportTable:
    return next(t for t in tables if t.key == key)


# Visits and patrols of 2025 in local time, written as a date_trunc on the local timestamp.
IN_YEAR_VISIT = "date_trunc('year', v.visited_at AT TIME ZONE 'Europe/Warsaw') = '2025-01-01'"
IN_YEAR_PATROL = (
    "date_trunc('year', p.planned_start AT TIME ZONE 'Europe/Warsaw') = '2025-01-01' "
    "AND p.status IN ('done', 'in_progress')"
)


@pytest.fixture
def report_data(session: Session) -> reports.ReportData:
    return reports.collect(session, year=YEAR, compare=2, actor="test", role="test", now=NOW)


def test_patrol_totals_equal_sql(session: Session, report_data: reports.ReportData) -> None:
    table = by_key(reports.build_tables(report_data, lang="pl"), "01_patrols")
    assert table.header == ("wskaźnik", "2023", "2024", "2025")
    rows = session.execute(
        text(
            f"""
            SELECT p.kind, count(*),
                   sum(extract(epoch FROM p.planned_end) - extract(epoch FROM p.planned_start))
            FROM patrols p WHERE {IN_YEAR_PATROL} GROUP BY p.kind
            """
        )
    ).all()
    assert {k for k, _, _ in rows} >= {"joint", "streetwork", "akcja_zima", "inspection"}
    for kind, n, seconds in rows:
        assert table.value(f"{kind}.patrols", "2025") == n
        assert table.value(f"{kind}.hours", "2025") == pytest.approx(float(seconds) / 3600)
        met = scalar(
            session,
            f"SELECT coalesce(sum(v.people_met), 0) FROM visits v, patrols p "
            f"WHERE p.id = v.patrol_id AND p.kind = :kind AND {IN_YEAR_VISIT}",
            kind=kind,
        )
        assert table.value(f"{kind}.people_met", "2025") == met
        # The demo has only 2025: earlier years show "no data", not zero.
        assert table.value(f"{kind}.patrols", "2023") is None
    assert table.value("total.patrols", "2025") == sum(n for _, n, _ in rows) > 200
    assert table.value("total.hours", "2025") == pytest.approx(
        sum(float(s) for _, _, s in rows) / 3600
    )


def test_contact_and_referral_totals_equal_sql(
    session: Session, report_data: reports.ReportData
) -> None:
    tables = reports.build_tables(report_data, lang="pl")
    contacts = by_key(tables, "02_contacts")
    expected = {
        "visits": f"SELECT count(*) FROM visits v WHERE {IN_YEAR_VISIT}",
        "people_met": f"SELECT sum(v.people_met) FROM visits v WHERE {IN_YEAR_VISIT}",
        "women_met": f"SELECT sum(v.women_met) FROM visits v WHERE {IN_YEAR_VISIT}",
        "people_aided": f"SELECT sum(v.people_aided) FROM visits v WHERE {IN_YEAR_VISIT}",
        "on_request_of_services": (
            f"SELECT count(*) FROM visits v WHERE v.on_request_of_services AND {IN_YEAR_VISIT}"
        ),
        "people_referred": f"SELECT sum(v.people_referred) FROM visits v WHERE {IN_YEAR_VISIT}",
    }
    for code, sql in expected.items():
        want = scalar(session, sql)
        assert want > 0, code
        assert contacts.value(code, "2025") == want, code
        assert contacts.value(code, "2024") is None

    referrals = by_key(tables, "03_referrals")
    per_type = dict(
        session.execute(
            text(
                f"SELECT v.referral_facility_type, sum(v.people_referred) FROM visits v "
                f"WHERE v.people_referred > 0 AND {IN_YEAR_VISIT} GROUP BY 1"
            )
        ).all()
    )
    assert len(per_type) >= 2
    for facility_type, n in per_type.items():
        assert facility_type in FACILITY_TYPES
        assert referrals.value(facility_type, "2025") == n
    assert referrals.value("total", "2025") == sum(per_type.values())
    labels = {r.code: r.label for r in referrals.rows}
    assert labels["noclegownia"] == "noclegownia"


def test_sos_bus_and_sites_totals_equal_sql(
    session: Session, report_data: reports.ReportData
) -> None:
    tables = reports.build_tables(report_data, lang="pl")
    sos = by_key(tables, "04_sos_bus")
    duties = session.execute(
        text(
            "SELECT count(*), sum(uses), sum(meals), sum(clothes), sum(rides_to_warming_centre) "
            "FROM sos_bus_duties WHERE duty_date BETWEEN '2025-01-01' AND '2025-12-31'"
        )
    ).one()
    codes = ("duties", "uses", "meals", "clothes", "rides_to_warming_centre")
    for code, want in zip(codes, duties, strict=True):
        assert want > 0
        assert sos.value(code, "2025") == want

    sites = by_key(tables, "05_sites")
    statuses = [s for s in SITE_STATUSES]
    grid: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(statuses, 0))
    for category, status in session.execute(text("SELECT category, status FROM sleeping_sites")):
        grid[category][status] += 1
    header = list(sites.header)
    for category, counts in grid.items():
        for status, n in counts.items():
            column = header[1 + statuses.index(status)]
            assert sites.value(category, column) == n
    all_sites = scalar(session, "SELECT count(*) FROM sleeping_sites")
    assert sites.value("total", sites.header[-1]) == all_sites > 50


def test_monthly_tables_add_up_to_the_year(
    session: Session, report_data: reports.ReportData
) -> None:
    tables = reports.build_tables(report_data, lang="en")
    monthly = by_key(tables, "06_monthly_patrols")
    assert monthly.header[1:13] == (
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
        "Nov",
        "Dec",
    )
    per_month = dict(
        session.execute(
            text(
                f"SELECT date_part('month', p.planned_start AT TIME ZONE 'Europe/Warsaw'), "
                f"count(*) FROM patrols p WHERE {IN_YEAR_PATROL} GROUP BY 1"
            )
        ).all()
    )
    total = next(r for r in monthly.rows if r.code == "total")
    assert list(total.values[:12]) == [per_month.get(m, 0) for m in range(1, 13)]
    contacts = by_key(tables, "07_monthly_contacts")
    contact_total = next(r for r in contacts.rows if r.code == "total").values[12]
    assert contact_total == scalar(
        session, f"SELECT sum(v.people_met) FROM visits v WHERE {IN_YEAR_VISIT}"
    )
    sos = by_key(tables, "08_monthly_sos")
    uses = next(r for r in sos.rows if r.code == "uses")
    assert uses.values[12] == scalar(
        session, "SELECT sum(uses) FROM sos_bus_duties WHERE extract(year FROM duty_date) = 2025"
    )
    assert uses.values[5] == 0  # no bus in June: the season is November to March


def test_reading_for_a_report_is_audited(session: Session) -> None:
    count = "SELECT count(*) FROM audit_log WHERE action = 'report' AND actor = 'auditor'"
    before = scalar(session, count)
    reports.collect(session, year=YEAR, actor="auditor", role="test")
    session.flush()
    layers = {
        row[0]
        for row in session.execute(
            text("SELECT layer FROM audit_log WHERE action = 'report' AND actor = 'auditor'")
        )
    }
    assert scalar(session, count) == before + 3
    assert layers == {"visits", "sleeping_sites", "patrols"}


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def site_secrets(session: Session) -> list[str]:
    """Strings that must never appear in a report: site codes, names and notes."""
    out: list[str] = []
    for code, name, notes in session.execute(
        text("SELECT code, name, access_notes FROM sleeping_sites")
    ):
        out.append(code)
        # A name that is just a category label ("Pustostan") says nothing about a site.
        if name.casefold() not in {
            label(SITE_CATEGORIES, c, lang).casefold() for c in SITE_CATEGORIES for lang in LANGS
        }:
            out.append(name)
        if notes:
            out.append(notes)
    out += [n for (n,) in session.execute(text("SELECT DISTINCT note FROM visits")) if n]
    return out


def test_report_files_charts_and_no_site_data(
    session: Session, report_data: reports.ReportData, tmp_path: Path
) -> None:
    files = report_render.write_report(report_data, tmp_path, lang="pl")
    assert len(files.charts) == 4
    page = files.html.read_text(encoding="utf-8")
    assert '<html lang="pl">' in page
    for chart in files.charts:
        width, height = png_size(chart)
        assert (width, height) == (900, 480)
        assert chart.stat().st_size > 10_000
        rel = chart.relative_to(tmp_path).as_posix()
        assert f'<img src="{rel}"' in page
        assert f"({rel})" in files.markdown.read_text(encoding="utf-8")
    # Polish labels from the vocabulary, and the hours rule stated.
    assert PATROL_KINDS["joint"] in page
    assert "planowany koniec − planowany początek" in page
    assert len(files.csv) == len(reports.build_tables(report_data))
    with (tmp_path / "tables" / "02_contacts.csv").open(encoding="utf-8-sig") as f:
        rows = {r["code"]: r for r in csv.DictReader(f)}
    assert int(rows["people_met"]["2025"]) == scalar(
        session, f"SELECT sum(v.people_met) FROM visits v WHERE {IN_YEAR_VISIT}"
    )
    assert rows["people_met"]["2023"] == ""

    texts = [p.read_text(encoding="utf-8-sig") for p in (files.html, files.markdown, *files.csv)]
    secrets = site_secrets(session)
    assert len(secrets) > 50
    coordinate = re.compile(r"\b(1[78]|5[45])\.\d{4,}")
    for body in texts:
        assert not [s for s in secrets if s in body]
        assert not coordinate.search(body)


def test_report_in_english(report_data: reports.ReportData, tmp_path: Path) -> None:
    files = report_render.write_report(report_data, tmp_path, lang="en")
    page = files.html.read_text(encoding="utf-8")
    assert '<html lang="en">' in page
    assert "joint patrol" in page and "Homelessness programme indicators" in page
    assert "patrol wspólny" not in page


def test_charts_are_shown_in_chromium(report_data: reports.ReportData, tmp_path: Path) -> None:
    # Imported here: without Playwright only this test fails, not the whole module.
    from playwright.sync_api import sync_playwright

    files = report_render.write_report(report_data, tmp_path, lang="pl")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(files.html.as_uri())
            page.wait_for_load_state("load")
            shown = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth, e.complete])"
            )
            lang = page.eval_on_selector("html", "e => e.lang")
        finally:
            browser.close()
    assert lang == "pl"
    assert sorted(src for src, _, _ in shown) == sorted(
        c.relative_to(tmp_path).as_posix() for c in files.charts
    )
    assert all(width == 900 and done for _, width, done in shown), shown
    assert all(r.startswith("file://") for r in requests), requests


# -- count night -------------------------------------------------------------------------------


def busiest_night(session: Session) -> date:
    """The evening with the most people met between 18:00 and 08:00 (local), from the data."""
    night = scalar(
        session,
        """
        SELECT ((v.visited_at AT TIME ZONE 'Europe/Warsaw') - interval '8 hours')::date AS night
        FROM visits v
        WHERE (v.visited_at AT TIME ZONE 'Europe/Warsaw')::time >= '18:00'
           OR (v.visited_at AT TIME ZONE 'Europe/Warsaw')::time < '08:00'
        GROUP BY 1 ORDER BY sum(v.people_met) DESC, 1 LIMIT 1
        """,
    )
    assert isinstance(night, date)
    return night


def expected_count_night(session: Session, night: date) -> dict[str, dict[str, int]]:
    """The count-night rule, applied in Python to raw rows."""
    zone = ZoneInfo(TZ)
    start = datetime(night.year, night.month, night.day, 18, tzinfo=zone)
    end = start + timedelta(hours=14)
    met: dict[Any, int] = {}
    for site_id, at, people in session.execute(
        text("SELECT site_id, visited_at, people_met FROM visits WHERE site_id IS NOT NULL")
    ):
        if start <= at < end:
            met[site_id] = max(met.get(site_id, 0), people)
    history: dict[Any, list[tuple[datetime, int, str]]] = defaultdict(list)
    for site_id, changed, hid, status in session.execute(
        text("SELECT site_id, changed_at, id, status FROM site_status_history")
    ):
        history[site_id].append((changed, hid, status))
    out: dict[str, dict[str, int]] = {c: defaultdict(int) for c in SITE_CATEGORIES}
    for site_id, category, status, estimate in session.execute(
        text("SELECT id, category, status, estimated_people FROM sleeping_sites")
    ):
        before = sorted(h for h in history[site_id] if h[0] < end)
        status_then = before[-1][2] if before else status
        row = out[category]
        if site_id in met:
            people = met[site_id]
            row["people_from_visits"] += people
            row["sites_visited"] += 1
        else:
            people = estimate if status_then == "active" else 0
            row["people_from_estimates"] += people
            row["sites_estimated"] += int(people > 0)
        row["people"] += people
        row["sites_with_people"] += int(people > 0)
    return out


def test_count_night_equals_the_rule_applied_here(session: Session, tmp_path: Path) -> None:
    night = busiest_night(session)
    result = reports.count_night(session, night=night, actor="test", role="test")
    expected = expected_count_night(session, night)
    assert [r.category for r in result.rows] == list(SITE_CATEGORIES)
    for row in result.rows:
        want = expected[row.category]
        for name in (
            "sites_with_people",
            "people",
            "people_from_visits",
            "people_from_estimates",
            "sites_visited",
            "sites_estimated",
        ):
            assert getattr(row, name) == want.get(name, 0), (row.category, name)
    assert result.total.people_from_visits > 0 and result.total.people_from_estimates > 0
    assert result.total.people == sum(e.get("people", 0) for e in expected.values())

    out = tmp_path / "count.csv"
    report_render.write_count_night(result, out)
    with out.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(report_render.COUNT_NIGHT_COLUMNS)
    assert rows[-1]["category"] == "total"
    assert int(rows[-1]["people"]) == result.total.people
    body = out.read_text(encoding="utf-8-sig")
    assert not [s for s in site_secrets(session) if s in body]

    # For partners: no published count is 1..9 and every published count is the true one.
    public = report_render.count_night_rows(result, public=True)
    header, published = public[0], public[1:]
    truth = {r.category: r for r in [*result.rows, result.total]}
    hidden = 0
    for row in published:
        for column in (
            "sites_with_people",
            "people",
            "people_from_visits",
            "people_from_estimates",
        ):
            value = row[header.index(column)]
            if value == report_render.SUPPRESSED:
                hidden += 1
                continue
            assert isinstance(value, int) and not 1 <= value <= 9, (row[0], column, value)
            assert value == getattr(truth[str(row[0])], column)
    assert hidden > 0
    assert (
        scalar(
            session,
            "SELECT count(*) FROM audit_log WHERE action = 'report' AND actor = 'test' "
            "AND detail->>'report' = 'count_night'",
        )
        == 2
    )


# -- the command line ----------------------------------------------------------------------------


def test_cli_report_and_count_night(scratch: tuple[URL, URL], tmp_path: Path) -> None:
    env = cli_env(*scratch)
    demo = run_cli("demo", env=env)
    assert demo.returncode == 0, demo.stderr[-2000:]

    out = tmp_path / "report"
    done = run_cli("report", "--year", "2025", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in (
        "report.html",
        "report.md",
        "tables/01_patrols.csv",
        "charts/patrols_monthly.png",
        "charts/sos_bus_monthly.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert '<html lang="pl">' in (out / "report.html").read_text(encoding="utf-8")

    en = run_cli(
        "report",
        "--year",
        "2025",
        "--compare",
        "2",
        "--lang",
        "en",
        "--out",
        str(tmp_path / "en"),
        env=env,
    )
    assert en.returncode == 0, en.stderr[-2000:]
    with (tmp_path / "en" / "tables" / "04_sos_bus.csv").open(encoding="utf-8-sig") as f:
        header = next(csv.reader(f))
    assert header == ["code", "indicator", "2023", "2024", "2025"]

    count = run_cli(
        "count-night", "--date", "2025-01-20", "--out", str(tmp_path / "night.csv"), env=env
    )
    assert count.returncode == 0, count.stderr[-2000:]
    assert "estimated" in count.stdout
    assert (tmp_path / "night.csv").read_text(encoding="utf-8-sig").startswith("category,")
    public = run_cli(
        "count-night",
        "--date",
        "2025-01-20",
        "--public",
        "--out",
        str(tmp_path / "public.csv"),
        env=env,
    )
    assert public.returncode == 0, public.stderr[-2000:]
    with (tmp_path / "public.csv").open(encoding="utf-8-sig") as f:
        cells = [
            v
            for row in csv.DictReader(f)
            for k, v in row.items()
            if k in ("sites_with_people", "people", "people_from_visits", "people_from_estimates")
        ]
    assert "x" in cells
    assert not [v for v in cells if v.isdigit() and 1 <= int(v) <= 9]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("report", "--year", "1850"), "--year"),
        (("report", "--year", "2025", "--lang", "de"), "--lang"),
        (("report", "--year", "2025", "--compare", "-1"), "--compare"),
        (("count-night", "--date", "2025-13-40"), "--date"),
        (("count-night", "--date", "1850-01-01"), "--date"),
    ],
)
def test_cli_bad_options_are_named(args: tuple[str, ...], option: str, tmp_path: Path) -> None:
    # Options are checked before any database is touched: a bogus URL proves it.
    env = cli_env(
        URL.create("postgresql+psycopg", host="127.0.0.1", port=1, database="none"),
        URL.create("postgresql+psycopg", host="127.0.0.1", port=1, database="none"),
    )
    done = run_cli(*args, "--out", str(tmp_path / "x.csv"), env=env)
    assert done.returncode != 0
    assert option in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_year_without_any_records_still_gives_a_full_report(
    session: Session, tmp_path: Path
) -> None:
    # 2019 has no patrols, visits or bus duties in the demo: every yearly figure is "no data".
    data = reports.collect(session, year=2019, actor="test", role="test", now=NOW)
    tables = reports.build_tables(data, lang="pl")
    contacts = by_key(tables, "02_contacts")
    assert all(row.values == (None,) for row in contacts.rows)
    assert by_key(tables, "06_monthly_patrols").rows == ()
    files = report_render.write_report(data, tmp_path, lang="pl")
    for chart in files.charts:
        assert png_size(chart) == (900, 480)
    page = files.html.read_text(encoding="utf-8")
    assert '<td class="n">–</td>' in page
    # The register of sites is not tied to a year: it is still there.
    assert by_key(tables, "05_sites").rows[-1].values[-1] == scalar(
        session, "SELECT count(*) FROM sleeping_sites"
    )
