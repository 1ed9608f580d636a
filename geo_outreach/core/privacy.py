"""Disclosure control: the one place that decides what aggregate figures may leave the service.

Sleeping sites are GDPR Art. 9 data, and a small count on a small area identifies a person. So
every figure meant for partners or the public goes through this module:

* heat layers: H3 resolution 8 or coarser, cells with fewer than 5 people dropped;
* tables: counts 1..9 suppressed (primary), plus secondary suppression so that no suppressed
  cell can be recovered from the published row/column totals;
* district × quarter statistics: districts or coarser, a quarter or longer.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

import h3
import pandas as pd

# H3 resolution 8 cells are ~0.74 km²; anything finer pins a sleeping site to a block.
MAX_H3_RESOLUTION = 8
MIN_HEAT_COUNT = 5


@dataclass(frozen=True)
class HeatCell:
    """One published heat-map cell: H3 index, summed people and its lon/lat boundary ring."""

    cell: str
    count: int
    boundary: list[tuple[float, float]]  # lon/lat ring, closed (first == last)


def heat_cells(
    points: Iterable[tuple[float, float, int]], *, resolution: int = 8, min_count: int = 5
) -> list[HeatCell]:
    """(lon, lat, people) → H3 cells at `resolution` (must be <= 8, i.e. 8 or coarser; raise
    ValueError otherwise) with summed people; cells with a total under min_count are dropped."""
    if not 0 <= resolution <= MAX_H3_RESOLUTION:
        msg = (
            f"resolution: H3 resolution {resolution} is not allowed; "
            f"use {MAX_H3_RESOLUTION} or coarser (0..{MAX_H3_RESOLUTION})"
        )
        raise ValueError(msg)
    if min_count < MIN_HEAT_COUNT:
        msg = f"min_count: {min_count} is below the disclosure threshold {MIN_HEAT_COUNT}"
        raise ValueError(msg)
    totals: dict[str, int] = {}
    for lon, lat, people in points:
        if people < 0:
            msg = f"people: negative count {people} at a heat point"
            raise ValueError(msg)
        if people == 0:
            continue
        cell = h3.latlng_to_cell(lat, lon, resolution)
        totals[cell] = totals.get(cell, 0) + int(people)
    cells: list[HeatCell] = []
    for cell in sorted(totals):
        count = totals[cell]
        if count < min_count:
            continue
        # h3 gives (lat, lng); GeoJSON and our maps want (lon, lat), ring closed.
        ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(cell)]
        ring.append(ring[0])
        cells.append(HeatCell(cell=cell, count=count, boundary=ring))
    return cells


# -- tables: primary and secondary cell suppression -------------------------------------------

TableInput: TypeAlias = "Mapping[str, Mapping[str, int]] | pd.DataFrame"
Position = tuple[int, int]  # (row, column) in the table augmented with its totals


@dataclass(frozen=True)
class SuppressedTable:
    """A table fit for publication: suppressed cells are None, including totals.

    Positions in `primary`/`secondary` index the table augmented with its totals: row index
    len(rows) is the totals row and column index len(columns) the totals column. The original
    values of suppressed cells are not kept here, so the object can travel anywhere.
    """

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[int | None, ...], ...]
    row_totals: tuple[int | None, ...]
    column_totals: tuple[int | None, ...]
    grand_total: int | None
    primary: frozenset[Position]
    secondary: frozenset[Position]

    def grid(self) -> list[list[int | None]]:
        """The (rows + 1) × (columns + 1) grid with totals last, None where suppressed."""
        out = [[*row, total] for row, total in zip(self.cells, self.row_totals, strict=True)]
        out.append([*self.column_totals, self.grand_total])
        return out

    @property
    def suppressed(self) -> frozenset[Position]:
        return self.primary | self.secondary

    def to_frame(self, *, marker: str = "–", total_label: str = "razem") -> pd.DataFrame:
        """A DataFrame with totals row/column; suppressed cells shown as `marker`."""
        grid = [[marker if v is None else v for v in row] for row in self.grid()]
        return pd.DataFrame(
            grid,
            index=[*self.rows, total_label],
            columns=[*self.columns, total_label],
            dtype=object,
        )


def suppress_table(
    table: TableInput,
    *,
    low: int = 1,
    high: int = 9,
    row_totals: bool = True,
    column_totals: bool = True,
) -> SuppressedTable:
    """Primary suppression of counts in [low, high] (totals too), then secondary suppression.

    The table with its totals is a set of linear equations: each row of cells sums to its row
    total, each column to its column total, the totals to the grand total. Seen as a bipartite
    graph (a node per row and per column, an edge per cell, totals being the extra row and
    column), a suppressed cell can be solved from the published figures exactly when its edge is
    a bridge of the graph of suppressed cells, i.e. lies on no cycle. So, until no suppressed
    cell is a bridge, the cheapest path of non-zero cells that closes a cycle through it is
    suppressed as well (small interior cells first; totals only when nothing else closes it).
    Zeros are never suppressed and every suppressed cell is >= 1, so along each cycle the
    values can move by at least ±1 without going negative: none can be derived, even with the
    knowledge that counts are non-negative.

    Totals that are not published (row_totals/column_totals False) are treated as suppressed
    from the start: they carry no information, and the rule above stays the same.
    """
    if low < 1:
        msg = f"low: must be >= 1 (zeros are published), got {low}"
        raise ValueError(msg)
    if high < low:
        msg = f"high: {high} is below low {low}"
        raise ValueError(msg)
    rows, columns, values = _matrix(table)
    n_rows, n_cols = len(rows), len(columns)
    grid = [[*row, sum(row)] for row in values]
    grid.append([sum(values[i][j] for i in range(n_rows)) for j in range(n_cols)])
    grid[n_rows].append(sum(grid[n_rows]))

    primary = {
        (i, j) for i in range(n_rows + 1) for j in range(n_cols + 1) if low <= grid[i][j] <= high
    }
    hidden: set[Position] = set()
    if not row_totals:
        hidden |= {(i, n_cols) for i in range(n_rows)}
    if not column_totals:
        hidden |= {(n_rows, j) for j in range(n_cols)}
    if not (row_totals and column_totals):
        hidden.add((n_rows, n_cols))
    primary -= hidden
    suppressed = _close_cycles(grid, primary, hidden=hidden)

    def shown(i: int, j: int) -> int | None:
        return None if (i, j) in suppressed or (i, j) in hidden else grid[i][j]

    return SuppressedTable(
        rows=tuple(rows),
        columns=tuple(columns),
        cells=tuple(tuple(shown(i, j) for j in range(n_cols)) for i in range(n_rows)),
        row_totals=tuple(shown(i, n_cols) for i in range(n_rows)),
        column_totals=tuple(shown(n_rows, j) for j in range(n_cols)),
        grand_total=shown(n_rows, n_cols),
        primary=frozenset(primary),
        secondary=frozenset(suppressed - primary),
    )


def _matrix(table: TableInput) -> tuple[list[str], list[str], list[list[int]]]:
    if isinstance(table, Mapping):
        rows = [str(r) for r in table]
        columns: list[str] = []
        for row in table.values():
            columns.extend(str(c) for c in row if str(c) not in columns)
        mapped = {str(r): {str(c): v for c, v in row.items()} for r, row in table.items()}
        raw = [[mapped[r].get(c, 0) for c in columns] for r in rows]
    else:
        rows = [str(r) for r in table.index]
        columns = [str(c) for c in table.columns]
        raw = [[table.iat[i, j] for j in range(len(columns))] for i in range(len(rows))]
    if len(set(rows)) != len(rows) or len(set(columns)) != len(columns):
        msg = "table: row and column labels must be unique"
        raise ValueError(msg)
    values: list[list[int]] = []
    for i, row in enumerate(raw):
        out: list[int] = []
        for j, v in enumerate(row):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                v = 0  # an empty cell of a cross-tab is a zero count
            if isinstance(v, bool) or int(v) != v or v < 0:
                msg = f"table: cell ({rows[i]!r}, {columns[j]!r}) = {v!r} is not a count"
                raise ValueError(msg)
            out.append(int(v))
        values.append(out)
    return rows, columns, values


def _close_cycles(
    grid: list[list[int]], start: set[Position], *, hidden: set[Position]
) -> set[Position]:
    """Add cells until no suppressed cell is a bridge of the graph of unknown cells.

    Unpublished totals (`hidden`) are unknowns too, but need no protection of their own.
    """
    n_rows, n_cols = len(grid) - 1, len(grid[0]) - 1
    suppressed = set(start)
    # Totals cost more than any interior cell: publishing the margins is worth most.
    penalty = grid[n_rows][n_cols] + 1
    while True:
        bridges = [b for b in _bridges(suppressed | hidden, n_rows + 1) if b not in hidden]
        if not bridges:
            return suppressed
        bridge = min(bridges, key=lambda p: (grid[p[0]][p[1]], p))
        path = _cheapest_path(grid, suppressed | hidden, bridge, penalty=penalty)
        if path is None:  # every suppressed cell is >= 1, so its totals are too: unreachable
            msg = f"cannot protect cell {bridge}: no other non-zero cell closes a cycle"
            raise ValueError(msg)
        suppressed |= path - hidden


def _node_edges(suppressed: set[Position], n_row_nodes: int) -> dict[int, list[Position]]:
    # Nodes: rows are 0..n_row_nodes-1, column j is n_row_nodes + j.
    edges: dict[int, list[Position]] = {}
    for i, j in suppressed:
        edges.setdefault(i, []).append((i, j))
        edges.setdefault(n_row_nodes + j, []).append((i, j))
    return edges


def _bridges(suppressed: set[Position], n_row_nodes: int) -> list[Position]:
    """Bridges of the bipartite graph whose edges are the suppressed cells (Tarjan, iterative)."""
    edges = _node_edges(suppressed, n_row_nodes)

    def other(node: int, edge: Position) -> int:
        return n_row_nodes + edge[1] if node == edge[0] else edge[0]

    order: dict[int, int] = {}
    low: dict[int, int] = {}
    found: list[Position] = []
    for root in sorted(edges):
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack: list[tuple[int, Position | None, int]] = [(root, None, 0)]
        while stack:
            node, via, k = stack[-1]
            if k < len(edges[node]):
                stack[-1] = (node, via, k + 1)
                edge = edges[node][k]
                if edge == via:
                    continue
                nxt = other(node, edge)
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append((nxt, edge, 0))
                continue
            stack.pop()
            if stack and via is not None:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent]:
                    found.append(via)
    return sorted(found)


def _cheapest_path(
    grid: list[list[int]], suppressed: set[Position], bridge: Position, *, penalty: int
) -> set[Position] | None:
    """Cells to suppress so that `bridge` lies on a cycle: a cheapest path between its two
    nodes over non-zero cells (already suppressed ones are free), not using the bridge itself."""
    n_rows, n_cols = len(grid) - 1, len(grid[0]) - 1
    n_row_nodes = n_rows + 1
    source, target = bridge[0], n_row_nodes + bridge[1]

    def cost(i: int, j: int) -> int:
        if (i, j) in suppressed:
            return 0
        return grid[i][j] + (penalty if i == n_rows or j == n_cols else 0)

    best: dict[int, int] = {source: 0}
    came: dict[int, tuple[int, Position]] = {}
    queue: list[tuple[int, int]] = [(0, source)]
    while queue:
        dist, node = heapq.heappop(queue)
        if node == target:
            break
        if dist > best.get(node, math.inf):
            continue
        if node < n_row_nodes:
            steps = [((node, j), n_row_nodes + j) for j in range(n_cols + 1)]
        else:
            j = node - n_row_nodes
            steps = [((i, j), i) for i in range(n_rows + 1)]
        for cell, nxt in steps:
            if cell == bridge or grid[cell[0]][cell[1]] == 0:
                continue
            d = dist + cost(*cell)
            if d < best.get(nxt, math.inf):
                best[nxt] = d
                came[nxt] = (node, cell)
                heapq.heappush(queue, (d, nxt))
    if target not in came:
        return None
    path: set[Position] = set()
    node = target
    while node != source:
        node, cell = came[node]
        path.add(cell)
    return path


# -- partner / public statistics: districts or coarser, a quarter or longer --------------------

# Months per period; nothing shorter than a quarter is ever published.
PERIODS: dict[str, int] = {"quarter": 3, "half": 6, "year": 12}
LEVELS = ("district", "city")
# Additive visit measures (totals must be sums for the suppression rule to hold).
MEASURES: dict[str, str] = {
    "people_met": "SUM(v.people_met)",
    "women_met": "SUM(v.women_met)",
    "people_referred": "SUM(v.people_referred)",
    "visits": "COUNT(*)",
}
UNKNOWN_AREA = "(bez dzielnicy)"  # visits of a patrol without a site: no place to put them


def period_labels(year: int, period: str) -> list[str]:
    """Column labels of one year split into periods: 2025-Q1…Q4, 2025-H1/H2 or 2025."""
    if period not in PERIODS:
        msg = f"period: '{period}' is not allowed; use one of {', '.join(PERIODS)}"
        raise ValueError(msg)
    size = PERIODS[period]
    if size == 12:
        return [str(year)]
    prefix = "Q" if size == 3 else "H"
    return [f"{year}-{prefix}{k}" for k in range(1, 12 // size + 1)]


def aggregate_by_period(
    records: Iterable[tuple[str, int, int]], *, year: int, period: str = "quarter"
) -> dict[str, dict[str, int]]:
    """(area, month 1..12, count) → {area: {period label: summed count}} with every period."""
    labels = period_labels(year, period)
    size = PERIODS[period]
    table: dict[str, dict[str, int]] = {}
    for area, month, count in records:
        if not 1 <= month <= 12:
            msg = f"month: {month} is not 1..12 (area {area!r})"
            raise ValueError(msg)
        row = table.setdefault(area, dict.fromkeys(labels, 0))
        row[labels[(month - 1) // size]] += int(count)
    return {area: table[area] for area in sorted(table)}
