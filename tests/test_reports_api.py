"""The yearly report through the API (issue 12): the internal tables for coordinators and admins,
the partner version (districts × quarters, no published count of 1–9, no suppressed cell
derivable from the margins) also for partners, who cannot read the internal one; a done patrol
and its visits' contacts count; the report pages; every read of visit data audited."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import URL, text

from geo_outreach.core import db
from geo_outreach.reports import partner
from tests.api_support import Api, api_for

YEAR = 2025  # the demo's year


@pytest.fixture(scope="module")
def api(admin_url: URL, app_url: URL, data_dir: Path) -> Iterator[Api]:
    with api_for(admin_url, app_url, data_dir) as found:
        yield found


def report(api: Api, year: int, role: str = "coordinator", **params: str) -> Any:
    return api.client.get(f"/reports/{year}.json", params=params, headers=api.headers(role))


def value(body: dict[str, Any], key: str, code: str, year: int) -> int:
    table = next(t for t in body["tables"] if t["key"] == key)
    column = table["header"].index(str(year)) - 1
    row = next((r for r in table["rows"] if r["code"] == code), None)
    return int((row["values"][column] if row else None) or 0)


def audit_rows(api: Api, actor: str) -> list[tuple[str, str]]:
    with api.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT action, layer FROM audit_log WHERE actor = :a ORDER BY id"), {"a": actor}
        ).all()
    return [(r[0], r[1]) for r in rows]


# -- who may read what ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "internal", "partner_version"),
    [
        ("coordinator", 200, 200),
        ("admin", 200, 200),
        ("partner", 403, 200),
        ("streetworker", 403, 403),
        ("ngo", 403, 403),
        ("public", 401, 401),
    ],
)
def test_roles(api: Api, role: str, internal: int, partner_version: int) -> None:
    assert report(api, YEAR, role).status_code == internal
    assert report(api, YEAR, role, audience="partner").status_code == partner_version
    page = api.client.get(f"/reports/{YEAR}.html", headers=api.headers(role))
    assert page.status_code == internal
    page = api.client.get(
        f"/reports/{YEAR}.html", params={"audience": "partner"}, headers=api.headers(role)
    )
    assert page.status_code == partner_version


@pytest.mark.parametrize(
    ("year", "params", "field"),
    [
        (1999, {}, "year"),
        (2999, {}, "year"),
        (YEAR, {"lang": "de"}, "lang"),
        (YEAR, {"audience": "press"}, "audience"),
    ],
)
def test_bad_options_name_the_field(
    api: Api, year: int, params: dict[str, str], field: str
) -> None:
    response = report(api, year, **params)
    assert response.status_code == 422
    assert field in response.text


# -- the internal report -------------------------------------------------------------------------


def test_internal_report_has_the_yearly_tables_and_audits_the_reads(api: Api) -> None:
    body = report(api, YEAR, "admin", lang="en").json()
    assert body["audience"] == "internal" and body["year"] == YEAR
    keys = [t["key"] for t in body["tables"]]
    assert keys[:5] == ["01_patrols", "02_contacts", "03_referrals", "04_sos_bus", "05_sites"]
    contacts = next(t for t in body["tables"] if t["key"] == "02_contacts")
    assert contacts["title"] == "Contacts and help"
    assert value(body, "02_contacts", "people_met", YEAR) > 100
    assert value(body, "04_sos_bus", "duties", YEAR) > 100
    found = audit_rows(api, "api:test-admin")
    assert {("report", "visits"), ("report", "sleeping_sites")} <= set(found)


def test_a_done_patrol_and_its_contacts_count_in_the_years_report(api: Api) -> None:
    start = datetime.now(UTC) - timedelta(days=2)
    year = start.year  # a patrol published from a plan: kind streetwork, then done
    before = report(api, year).json()
    with db.session_scope(api.engine) as s:
        patrol_id = s.execute(
            text(
                "INSERT INTO patrols (code, kind, planned_start, planned_end, status, "
                "created_by, updated_by) VALUES (:code, 'streetwork', :a, :b, 'done', 't', 't') "
                "RETURNING id"
            ),
            {"code": f"PLAN-{uuid.uuid4().hex[:6]}", "a": start, "b": start + timedelta(hours=4)},
        ).scalar_one()
        sites = s.execute(text("SELECT id::text FROM sleeping_sites ORDER BY code LIMIT 2")).all()
    met = [3, 4]
    for (site,), people in zip(sites, met, strict=True):
        visit = api.client.post(
            "/visits",
            json={
                "site_id": site,
                "patrol_id": str(patrol_id),
                "people_met": people,
                "visited_at": (start + timedelta(hours=1)).isoformat(),
            },
            headers=api.headers("streetworker"),
        )
        assert visit.status_code == 201, visit.text
    after = report(api, year).json()
    for key, code, added in (
        ("01_patrols", "streetwork.patrols", 1),
        ("01_patrols", "streetwork.hours", 4),
        ("01_patrols", "streetwork.people_met", sum(met)),
        ("02_contacts", "visits", len(met)),
        ("02_contacts", "people_met", sum(met)),
    ):
        assert value(after, key, code, year) == value(before, key, code, year) + added, code


def test_report_pages_in_three_languages(api: Api) -> None:
    for lang, word in (("pl", "Autobus SOS"), ("en", "SOS bus"), ("uk", "SOS")):
        page = api.client.get(
            f"/reports/{YEAR}.html", params={"lang": lang}, headers=api.headers("coordinator")
        )
        assert page.status_code == 200
        assert f'<html lang="{lang}">' in page.text and word in page.text
        assert "<script" not in page.text and 'src="data:image/png;base64,' in page.text
        assert page.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]


# -- the partner version -------------------------------------------------------------------------


def published_grid(table: dict[str, Any]) -> list[list[int | None]]:
    grid = [[*row, total] for row, total in zip(table["cells"], table["row_totals"], strict=True)]
    grid.append([*table["column_totals"], table["grand_total"]])
    return grid


def equations(n_rows: int, n_cols: int) -> np.ndarray:
    """Each row and column of the table with its totals: the cells sum to the total."""
    width = n_cols + 1
    eqs = []
    for i in range(n_rows + 1):
        eq = np.zeros((n_rows + 1) * width)
        eq[i * width : i * width + n_cols] = 1
        eq[i * width + n_cols] = -1
        eqs.append(eq)
    for j in range(n_cols + 1):
        eq = np.zeros((n_rows + 1) * width)
        for i in range(n_rows):
            eq[i * width + j] = 1
        eq[n_rows * width + j] = -1
        eqs.append(eq)
    return np.array(eqs)


def check_disclosure(body: dict[str, Any]) -> int:
    """No published cell (totals too) in 1..9; no hidden cell follows from the published
    figures (its unit vector is outside the row space of the equations over the hidden cells).
    Returns how many cells were hidden."""
    hidden_total = 0
    for table in body["tables"]:
        grid = published_grid(table)
        flat = [v for row in grid for v in row]
        assert not [v for v in flat if v is not None and 1 <= v <= 9], table["key"]
        hidden = [k for k, v in enumerate(flat) if v is None]
        hidden_total += len(hidden)
        if not hidden:
            continue
        a = equations(len(table["rows"]), len(table["columns"]))[:, hidden]
        rank = np.linalg.matrix_rank(a)
        for k in range(len(hidden)):
            unit = np.zeros((1, len(hidden)))
            unit[0, k] = 1
            assert np.linalg.matrix_rank(np.vstack([a, unit])) > rank, (table["key"], hidden[k])
    return hidden_total


def test_partner_report_is_coarse_and_suppressed(api: Api) -> None:
    response = report(api, YEAR, "partner", audience="partner", lang="en")
    assert response.status_code == 200
    body = response.json()
    assert (body["audience"], body["level"], body["period"]) == ("partner", "district", "quarter")
    assert [t["key"] for t in body["tables"]][:2] == ["visits.visits", "visits.people_met"]
    for table in body["tables"]:
        assert table["columns"] == [f"{YEAR}-Q{q}" for q in (1, 2, 3, 4)]
    assert check_disclosure(body) > 0  # the demo has small cells: the check has teeth
    people = next(t for t in body["tables"] if t["key"] == "visits.people_met")
    assert people["grand_total"] is not None and people["grand_total"] > 100
    # No site code, name or coordinate: only districts (and the SOS route) name the rows.
    text_ = response.text
    assert "SITE-" not in text_ and "geometry" not in text_
    assert ("statistics", "visits") in audit_rows(api, "api:test-partner")


def test_partner_page_marks_hidden_cells(api: Api) -> None:
    page = api.client.get(
        f"/reports/{YEAR}.html",
        params={"audience": "partner", "lang": "en"},
        headers=api.headers("partner"),
    )
    assert page.status_code == 200
    assert '<td class="n">x</td>' in page.text and "<script" not in page.text


# Zeros, small counts and publishable ones, in about equal shares, in any district and month.
RECORDS = st.lists(
    st.tuples(
        st.sampled_from(["Wrzeszcz", "Oliwa", "Śródmieście", "Sopot", "(bez dzielnicy)"]),
        st.integers(1, 12),
        st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 60)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(RECORDS, min_size=1, max_size=3), st.sampled_from(["quarter", "half", "year"]))
def test_partner_json_never_discloses(records: list[Any], period: str) -> None:
    """The partner JSON as built from any log: the same properties as the internal rules'."""
    tables = tuple(
        partner.PartnerTable(
            key=f"visits.m{k}",
            measure="people_met",
            row_kind="district",
            table=partner.suppressed_by_period(rows, year=YEAR, period=period),
        )
        for k, rows in enumerate(records)
    )
    body = partner.report_json(partner.PartnerReport(YEAR, period, "district", tables))
    check_disclosure(body)
    for table, rows in zip(body["tables"], records, strict=True):
        truth = sum(n for _, _, n in rows)
        # What is published is true: the grand total, when shown, is the log's sum.
        assert table["grand_total"] in (None, truth)
