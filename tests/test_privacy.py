"""Disclosure rules (geo_outreach.privacy): property tests over random tables and points, and the
district × quarter statistics on the demo database.

Whether a suppressed cell can be derived is checked here independently of the module's own
graph reasoning: by linear algebra on the table's equations and by linear programming with the
non-negativity of counts.
"""

from __future__ import annotations

from typing import Any

import h3
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_outreach.core import privacy
from geo_outreach.core.privacy import SuppressedTable, heat_cells, suppress_table
from geo_outreach.reports import partner

# Zeros, small counts (to be suppressed) and publishable counts, in about equal shares.
COUNTS = st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 60))


@st.composite
def tables(draw: st.DrawFn) -> dict[str, dict[str, int]]:
    n_rows = draw(st.integers(1, 5))
    n_cols = draw(st.integers(1, 5))
    return {f"r{i}": {f"c{j}": draw(COUNTS) for j in range(n_cols)} for i in range(n_rows)}


def augmented(table: dict[str, dict[str, int]]) -> list[list[int]]:
    """The true table with its totals row and column (computed here, not by the module)."""
    rows = [list(r.values()) for r in table.values()]
    grid = [[*r, sum(r)] for r in rows]
    grid.append([sum(col) for col in zip(*grid, strict=True)])
    return grid


def equations(n_rows: int, n_cols: int) -> np.ndarray:
    """Each row and column of the augmented table: its cells sum to its total."""
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


def unknown_and_known(result: SuppressedTable) -> tuple[list[int], list[int], list[int | None]]:
    flat = [v for row in result.grid() for v in row]
    unknown = [k for k, v in enumerate(flat) if v is None]
    known = [k for k, v in enumerate(flat) if v is not None]
    return unknown, known, flat


def protected(result: SuppressedTable) -> list[int]:
    """Flat indices of cells the module suppressed (not merely left unpublished)."""
    width = len(result.columns) + 1
    return sorted(i * width + j for i, j in result.suppressed)


@settings(max_examples=300, deadline=None)
@given(tables(), st.booleans(), st.booleans())
def test_no_published_cell_is_small_and_published_cells_are_true(
    table: dict[str, dict[str, int]], row_totals: bool, column_totals: bool
) -> None:
    result = suppress_table(table, row_totals=row_totals, column_totals=column_totals)
    truth = augmented(table)
    for i, row in enumerate(result.grid()):
        for j, value in enumerate(row):
            if value is None:
                continue
            assert not 1 <= value <= 9, f"published small count {value} at {(i, j)}"
            assert value == truth[i][j]
    # Every small count was hidden (primary), every secondary cell is non-zero.
    for i, row in enumerate(truth):
        for j, value in enumerate(row):
            if 1 <= value <= 9:
                assert result.grid()[i][j] is None
    assert all(truth[i][j] > 0 for i, j in result.secondary)


@settings(max_examples=300, deadline=None)
@given(tables(), st.booleans(), st.booleans())
def test_every_line_with_a_suppressed_cell_has_two(
    table: dict[str, dict[str, int]], row_totals: bool, column_totals: bool
) -> None:
    result = suppress_table(table, row_totals=row_totals, column_totals=column_totals)
    grid = result.grid()
    for i, j in result.suppressed:
        row_hidden = sum(v is None for v in grid[i])
        col_hidden = sum(row[j] is None for row in grid)
        assert row_hidden >= 2, f"row {i} hides only cell {(i, j)}: {grid[i]}"
        assert col_hidden >= 2, f"column {j} hides only cell {(i, j)}"


@settings(max_examples=300, deadline=None)
@given(tables(), st.booleans(), st.booleans())
def test_no_suppressed_cell_is_determined_by_the_margins(
    table: dict[str, dict[str, int]], row_totals: bool, column_totals: bool
) -> None:
    result = suppress_table(table, row_totals=row_totals, column_totals=column_totals)
    a = equations(len(result.rows), len(result.columns))
    unknown, _, _ = unknown_and_known(result)
    a_unknown = a[:, unknown]
    rank = np.linalg.matrix_rank(a_unknown) if unknown else 0
    for k in protected(result):
        unit = np.zeros((1, len(unknown)))
        unit[0, unknown.index(k)] = 1
        # A cell is determined iff its unit vector lies in the row space of the equations.
        assert np.linalg.matrix_rank(np.vstack([a_unknown, unit])) > rank, (
            f"suppressed cell {k} is a linear combination of published figures"
        )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_suppressed_cells_keep_a_range_even_knowing_counts_are_not_negative(
    table: dict[str, dict[str, int]],
) -> None:
    result = suppress_table(table)
    a = equations(len(result.rows), len(result.columns))
    unknown, known, flat = unknown_and_known(result)
    if not unknown:
        return
    b = -a[:, known] @ np.array([flat[k] for k in known], dtype=float)
    truth = [v for row in augmented(table) for v in row]
    for k in protected(result):
        c = np.zeros(len(unknown))
        c[unknown.index(k)] = 1
        bounds: Any = [(0, None)] * len(unknown)
        low = linprog(c, A_eq=a[:, unknown], b_eq=b, bounds=bounds, method="highs")
        high = linprog(-c, A_eq=a[:, unknown], b_eq=b, bounds=bounds, method="highs")
        assert low.status == 0
        lo = low.fun
        hi = -high.fun if high.status == 0 else float("inf")  # status 3: unbounded above
        assert lo - 1e-6 <= truth[k] <= hi + 1e-6
        # An attacker who knows every published figure still cannot pin the value.
        assert hi - lo >= 1 - 1e-6, f"cell {k} (true {truth[k]}) pinned to [{lo}, {hi}]"


def test_known_table_small_cell_and_its_partners_are_hidden() -> None:
    table = {"A": {"Q1": 20, "Q2": 3, "Q3": 15}, "B": {"Q1": 12, "Q2": 30, "Q3": 14}}
    result = suppress_table(table)
    assert result.cells[0][1] is None  # the 3
    assert (0, 1) in result.primary
    # The row and the column of the 3 each lose one more cell, so neither total gives it away.
    assert sum(v is None for v in result.grid()[0]) >= 2
    assert sum(row[1] is None for row in result.grid()) >= 2
    frame = result.to_frame()
    assert frame.loc["A", "Q2"] == "–"
    assert frame.loc["razem", "razem"] == 94


@pytest.mark.parametrize(
    ("table", "kwargs", "needle"),
    [
        ({"A": {"Q1": -1}}, {}, "('A', 'Q1')"),
        ({"A": {"Q1": 2.5}}, {}, "not a count"),
        ({"A": {"Q1": 2}}, {"low": 0}, "low"),
        ({"A": {"Q1": 2}}, {"low": 5, "high": 4}, "high"),
    ],
)
def test_bad_tables_are_refused_naming_the_fault(
    table: dict[str, dict[str, float]], kwargs: dict[str, int], needle: str
) -> None:
    with pytest.raises(ValueError) as err:
        suppress_table(table, **kwargs)  # type: ignore[arg-type]
    assert needle in str(err.value)


# -- heat cells --------------------------------------------------------------------------------

POINTS = st.lists(
    st.tuples(
        st.floats(18.50, 18.62, allow_nan=False),
        st.floats(54.36, 54.46, allow_nan=False),
        st.integers(0, 6),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(POINTS, st.integers(5, 8), st.integers(5, 12))
def test_heat_cells_never_publish_small_or_fine_cells(
    points: list[tuple[float, float, int]], resolution: int, min_count: int
) -> None:
    cells = heat_cells(points, resolution=resolution, min_count=min_count)
    groups: dict[str, int] = {}
    for lon, lat, people in points:
        cell = h3.latlng_to_cell(lat, lon, resolution)
        groups[cell] = groups.get(cell, 0) + people
    published = {c.cell: c for c in cells}
    for cell, total in groups.items():
        if total >= min_count:
            assert published[cell].count == total
        else:
            assert cell not in published
    for c in cells:
        assert c.count >= min_count >= 5
        assert h3.get_resolution(c.cell) == resolution <= 8
        ring = shapely.Polygon(c.boundary)
        assert c.boundary[0] == c.boundary[-1] and ring.is_valid
        inside = [
            (lon, lat)
            for lon, lat, _ in points
            if h3.latlng_to_cell(lat, lon, resolution) == c.cell
        ]
        # The ring is lon/lat: the points of the cell fall inside it (or on its edge).
        assert all(ring.buffer(1e-6).contains(shapely.Point(p)) for p in inside)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"resolution": 9}, "resolution"),
        ({"resolution": 15}, "resolution"),
        ({"min_count": 4}, "min_count"),
    ],
)
def test_heat_cells_refuse_fine_resolution_and_low_threshold(
    kwargs: dict[str, int], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        heat_cells([(18.6, 54.4, 10)], **kwargs)


# -- district × quarter statistics on the demo --------------------------------------------------


def test_district_quarter_counts_match_sql_and_are_suppressed(session: Session) -> None:
    before = session.execute(
        text("SELECT count(*) FROM audit_log WHERE action = 'statistics'")
    ).scalar_one()
    result = partner.district_quarter_counts(session, year=2025, actor="test", role="test")
    truth = {
        (str(d), f"2025-Q{int(q)}"): int(n)
        for d, q, n in session.execute(
            text(
                """
                SELECT coalesce(s.district, '(bez dzielnicy)'),
                       extract(quarter FROM v.visited_at AT TIME ZONE 'Europe/Warsaw'),
                       sum(v.people_met)
                FROM visits v LEFT JOIN sleeping_sites s ON s.id = v.site_id
                WHERE v.visited_at >= '2025-01-01 00:00+01'
                  AND v.visited_at < '2026-01-01 00:00+01'
                GROUP BY 1, 2
                """
            )
        ).all()
    }
    assert result.columns == ("2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4")
    assert set(result.rows) == {d for d, _ in truth}
    assert len(result.rows) >= 5
    for i, district in enumerate(result.rows):
        for j, quarter in enumerate(result.columns):
            value = result.cells[i][j]
            true = truth.get((district, quarter), 0)
            if value is None:
                assert true > 0
            else:
                assert value == true and not 1 <= value <= 9
    assert result.grand_total == sum(truth.values())
    assert result.primary, "the demo has small district-quarter counts; they must be hidden"
    after = session.execute(
        text("SELECT count(*) FROM audit_log WHERE action = 'statistics'")
    ).scalar_one()
    assert after == before + 1


def test_city_level_and_half_years(session: Session) -> None:
    result = partner.district_quarter_counts(
        session, year=2025, actor="test", role="test", level="city", period="half"
    )
    assert result.columns == ("2025-H1", "2025-H2")
    assert set(result.rows) <= {"Gdańsk", "Sopot", privacy.UNKNOWN_AREA}
    total = session.execute(
        text(
            "SELECT sum(people_met) FROM visits WHERE visited_at >= '2025-01-01 00:00+01' "
            "AND visited_at < '2026-01-01 00:00+01'"
        )
    ).scalar_one()
    assert result.grand_total == total


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"period": "month"}, "period"),
        ({"level": "site"}, "level"),
        ({"measure": "notes"}, "measure"),
    ],
)
def test_statistics_refuse_fine_grain(
    session: Session, kwargs: dict[str, str], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        partner.district_quarter_counts(session, year=2025, actor="t", role="t", **kwargs)  # type: ignore[arg-type]
