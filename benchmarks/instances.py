"""Benchmark instances: Solomon .txt and VRPLIB/TSPLIB .vrp/.tsp/.sol files → `vrp.Problem`.

The evaluator recomputes a route set's cost and feasibility in the instance's own convention
(Solomon: unrounded Euclidean; TSPLIB EUC_2D: nearest integer), independently of the solver,
so that a solver's integer (scaled, rounded) objective is never what gets reported.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from geo_outreach.core.errors import GeoOutreachError
from geo_outreach.routing import vrp

Kind = Literal["solomon", "cvrp", "vrptw", "tsp"]
TOLERANCE = 1e-6  # float slack when checking time windows on unrounded distances


class InstanceError(GeoOutreachError):
    """An instance or solution file that cannot be read: names the file, line and fault."""


@dataclass(frozen=True)
class Instance:
    """Node 0 is the depot, nodes 1..n-1 the clients, in the file's order."""

    name: str
    kind: Kind
    distance: NDArray[np.float64]  # (n, n) in the instance's own convention; also travel time
    convention: str  # how `distance` was derived, e.g. "EUC_2D (nint)"
    demand: NDArray[np.int64]
    ready: NDArray[np.float64]  # earliest start of service (depot: earliest departure)
    due: NDArray[np.float64]  # latest start of service (depot: latest return); inf if none
    service: NDArray[np.float64]
    capacity: int  # 0: no capacity constraint
    vehicles: int
    coords: NDArray[np.float64] | None = None

    @property
    def size(self) -> int:
        return int(self.distance.shape[0])

    @property
    def clients(self) -> int:
        return self.size - 1

    @property
    def has_time_windows(self) -> bool:
        return bool(np.isfinite(self.due).any())

    @property
    def integral(self) -> bool:
        """True when every distance is a whole number (no scaling needed for integer solvers)."""
        return bool(np.all(self.distance == np.rint(self.distance)))


# -- Solomon ----------------------------------------------------------------------------------

SOLOMON_FIELDS = ("CUST NO.", "XCOORD.", "YCOORD.", "DEMAND", "READY TIME", "DUE DATE", "SERVICE")


def read_solomon(path: Path) -> Instance:
    """A Solomon VRPTW file: name, VEHICLE NUMBER/CAPACITY, then one row per customer."""
    lines = _lines(path)
    name = next((text.strip() for _, text in lines if text.strip()), "")
    if not name:
        msg = f"{path.name}: the file is empty"
        raise InstanceError(msg)
    vehicles = capacity = -1
    rows: list[tuple[int, list[float]]] = []
    state = "head"
    for number, text in lines:
        words = text.split()
        if not words:
            continue
        upper = text.upper()
        if state == "head" and "NUMBER" in upper and "CAPACITY" in upper:
            state = "fleet"
            continue
        if state == "fleet":
            if len(words) != 2:
                msg = f"{path.name} line {number}: expected 'NUMBER CAPACITY' values, got {text!r}"
                raise InstanceError(msg)
            vehicles = _int(words[0], path, number, "NUMBER")
            capacity = _int(words[1], path, number, "CAPACITY")
            state = "fleet-done"
            continue
        if state == "fleet-done" and _numeric(words[0]):
            state = "rows"  # the first numeric line after the column headings
        if state == "rows":
            if len(words) != len(SOLOMON_FIELDS):
                msg = (
                    f"{path.name} line {number}: expected {len(SOLOMON_FIELDS)} values "
                    f"({', '.join(SOLOMON_FIELDS)}), got {len(words)}"
                )
                raise InstanceError(msg)
            values = [
                _float(w, path, number, field)
                for w, field in zip(words, SOLOMON_FIELDS, strict=True)
            ]
            rows.append((number, values))
    if vehicles < 0:
        msg = f"{path.name}: no VEHICLE section with NUMBER and CAPACITY"
        raise InstanceError(msg)
    if len(rows) < 2:
        msg = f"{path.name}: expected a CUSTOMER table with the depot and at least one customer"
        raise InstanceError(msg)
    for k, (number, values) in enumerate(rows):
        if values[0] != k:
            msg = (
                f"{path.name} line {number}, field 'CUST NO.': expected {k} "
                f"(customers are numbered 0 = depot, 1, 2, …), got {values[0]:g}"
            )
            raise InstanceError(msg)
    table = np.array([values for _, values in rows])
    demand = _whole(table[:, 3], path, [n for n, _ in rows], "DEMAND")
    _check_nodes(
        path,
        [n for n, _ in rows],
        demand=demand,
        ready=table[:, 4],
        due=table[:, 5],
        service=table[:, 6],
        capacity=capacity,
        vehicles=vehicles,
    )
    coords = table[:, 1:3]
    return Instance(
        name=name,
        kind="solomon",
        distance=_euclidean(coords),
        convention="Euclidean, unrounded (Solomon)",
        demand=demand,
        ready=table[:, 4].copy(),
        due=table[:, 5].copy(),
        service=table[:, 6].copy(),
        capacity=capacity,
        vehicles=vehicles,
        coords=coords,
    )


# -- VRPLIB / TSPLIB --------------------------------------------------------------------------

_SPEC = re.compile(r"^\s*([A-Z_]+)\s*:\s*(.*?)\s*$")
_SECTION = re.compile(r"^\s*([A-Z_]+_SECTION)\s*:?\s*$")
_EXPLICIT_FORMATS = ("FULL_MATRIX", "LOWER_ROW", "LOWER_DIAG_ROW", "UPPER_ROW", "UPPER_DIAG_ROW")


def read_vrplib(path: Path) -> Instance:
    """A VRPLIB/TSPLIB file (CVRP, VRPTW or TSP): specification lines, then data sections."""
    specs: dict[str, tuple[int, str]] = {}
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current: str | None = None
    for number, text in _lines(path):
        if not text.strip() or text.strip() == "EOF":
            continue
        if match := _SECTION.match(text):
            current = match.group(1)
            sections[current] = []
        elif (match := _SPEC.match(text)) and not _numeric(text.split()[0]):
            specs[match.group(1)] = (number, match.group(2))
            current = None
        elif current is not None:
            sections[current].append((number, text.split()))
        else:
            msg = f"{path.name} line {number}: neither 'KEY : value' nor a section: {text!r}"
            raise InstanceError(msg)
    name = specs.get("NAME", (0, path.stem))[1] or path.stem
    kind_text = specs.get("TYPE", (0, "CVRP"))[1].upper()
    kind: Kind
    if kind_text == "TSP":
        kind = "tsp"
    elif kind_text == "CVRP":
        kind = "cvrp"
    elif kind_text in ("VRPTW", "CVRPTW"):
        kind = "vrptw"
    else:
        msg = f"{path.name}: TYPE '{kind_text}' is not supported (use TSP, CVRP or VRPTW)"
        raise InstanceError(msg)
    if "DIMENSION" not in specs:
        msg = f"{path.name}: the DIMENSION line is missing"
        raise InstanceError(msg)
    line, text = specs["DIMENSION"]
    n = _int(text, path, line, "DIMENSION")
    if n < 2:
        msg = f"{path.name} line {line}, field 'DIMENSION': needs at least 2 nodes, got {n}"
        raise InstanceError(msg)
    coords = None
    if "NODE_COORD_SECTION" in sections:
        coords = _per_node(path, sections["NODE_COORD_SECTION"], n, 2, "NODE_COORD_SECTION")
    weight_type = specs.get("EDGE_WEIGHT_TYPE", (0, "EUC_2D"))[1].upper()
    if weight_type in ("EUC_2D", "CEIL_2D"):
        if coords is None:
            msg = f"{path.name}: EDGE_WEIGHT_TYPE {weight_type} needs a NODE_COORD_SECTION"
            raise InstanceError(msg)
        exact = _euclidean(coords)
        # TSPLIB's nint is round-half-up, not numpy's round-half-even.
        distance = np.floor(exact + 0.5) if weight_type == "EUC_2D" else np.ceil(exact)
        convention = "EUC_2D (nint)" if weight_type == "EUC_2D" else "CEIL_2D (ceil)"
    elif weight_type == "EXPLICIT":
        fmt = specs.get("EDGE_WEIGHT_FORMAT", (0, ""))[1].upper()
        distance = _explicit(path, sections.get("EDGE_WEIGHT_SECTION"), n, fmt)
        convention = f"EXPLICIT {fmt}"
    else:
        msg = (
            f"{path.name}: EDGE_WEIGHT_TYPE '{weight_type}' is not supported "
            "(use EUC_2D, CEIL_2D or EXPLICIT)"
        )
        raise InstanceError(msg)
    depot = _depot(path, sections.get("DEPOT_SECTION"), n)
    demand = np.zeros(n, dtype=np.int64)
    capacity = 0
    if kind != "tsp":
        if "DEMAND_SECTION" not in sections:
            msg = f"{path.name}: TYPE {kind_text} needs a DEMAND_SECTION"
            raise InstanceError(msg)
        raw = _per_node(path, sections["DEMAND_SECTION"], n, 1, "DEMAND_SECTION")[:, 0]
        lines = [num for num, _ in sections["DEMAND_SECTION"]]
        demand = _whole(raw, path, lines, "DEMAND_SECTION")
        if "CAPACITY" not in specs:
            msg = f"{path.name}: TYPE {kind_text} needs a CAPACITY line"
            raise InstanceError(msg)
        line, text = specs["CAPACITY"]
        capacity = _int(text, path, line, "CAPACITY")
    ready = np.zeros(n)
    due = np.full(n, np.inf)
    if "TIME_WINDOW_SECTION" in sections:
        windows = _per_node(path, sections["TIME_WINDOW_SECTION"], n, 2, "TIME_WINDOW_SECTION")
        ready, due = windows[:, 0].copy(), windows[:, 1].copy()
    service = np.zeros(n)
    if "SERVICE_TIME_SECTION" in sections:
        service = _per_node(path, sections["SERVICE_TIME_SECTION"], n, 1, "SERVICE_TIME_SECTION")
        service = service[:, 0].copy()
    elif "SERVICE_TIME" in specs:
        line, text = specs["SERVICE_TIME"]
        service = np.full(n, _float(text, path, line, "SERVICE_TIME"))
        service[depot] = 0.0
    # One vehicle for a TSP; otherwise the stated fleet, or one per client (X sets: unlimited).
    vehicles = 1 if kind == "tsp" else n - 1
    if "VEHICLES" in specs:
        line, text = specs["VEHICLES"]
        vehicles = _int(text, path, line, "VEHICLES")
    order = np.r_[depot, np.delete(np.arange(n), depot)]  # the depot becomes node 0
    numbers = [int(i) + 1 for i in order]
    _check_nodes(
        path,
        numbers,
        demand=demand[order],
        ready=ready[order],
        due=due[order],
        service=service[order],
        capacity=capacity,
        vehicles=vehicles,
        label="node",
    )
    return Instance(
        name=name,
        kind=kind,
        distance=distance[np.ix_(order, order)],
        convention=convention,
        demand=demand[order],
        ready=ready[order],
        due=due[order],
        service=service[order],
        capacity=capacity,
        vehicles=vehicles,
        coords=None if coords is None else coords[order],
    )


def read_instance(path: Path) -> Instance:
    """By extension: .txt is Solomon, .vrp and .tsp are VRPLIB/TSPLIB."""
    if not path.is_file():
        msg = f"instance file not found: {path}"
        raise InstanceError(msg)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return read_solomon(path)
    if suffix in (".vrp", ".tsp"):
        return read_vrplib(path)
    msg = f"{path.name}: unknown instance format '{suffix}' (use Solomon .txt, VRPLIB .vrp/.tsp)"
    raise InstanceError(msg)


@dataclass(frozen=True)
class SolutionFile:
    routes: list[list[int]]  # client numbers, which are node indices of the Instance (depot 0)
    cost: float | None


def read_solution(path: Path) -> SolutionFile:
    """A VRPLIB .sol file: 'Route #k: c1 c2 …' lines and a 'Cost N' line."""
    routes: list[list[int]] = []
    cost = None
    for number, text in _lines(path):
        words = text.split()
        if not words:
            continue
        if words[0].lower() == "route":
            _, _, rest = text.partition(":")
            routes.append([_int(w, path, number, "route") for w in rest.split()])
        elif words[0].lower() == "cost" and len(words) == 2:
            cost = _float(words[1], path, number, "Cost")
        else:
            msg = f"{path.name} line {number}: expected 'Route #k: …' or 'Cost N', got {text!r}"
            raise InstanceError(msg)
    if not routes:
        msg = f"{path.name}: no 'Route #k:' lines"
        raise InstanceError(msg)
    return SolutionFile(routes=routes, cost=cost)


# -- best-known costs beside the instance -----------------------------------------------------


@dataclass(frozen=True)
class BestKnown:
    cost: float
    source: str  # e.g. "BKS.json:C101_distance" or "X-n101-k25.sol"
    objective: str  # "distance only" or "hierarchical: fewest vehicles, then distance"
    vehicles: int | None = None  # vehicles of the best-known solution, when stated
    routes: list[list[int]] | None = None  # when a .sol file gives them


def best_known(path: Path, instance: Instance) -> BestKnown | None:
    """The best-known distance from BKS.json beside the file, else from a .sol beside it.

    Solomon lists carry two values: hierarchical (fewest vehicles first) and `<name>_distance`
    (distance only); a solver that minimises distance is compared with the latter. The routes
    of a .sol beside the file come along, so that its cost can be recomputed.
    """
    sol_path = path.with_suffix(".sol")
    sol = read_solution(sol_path) if sol_path.is_file() else None
    routes = sol.routes if sol else None
    table_path = path.parent / "BKS.json"
    if table_path.is_file():
        try:
            table = json.loads(table_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            msg = f"{table_path}: not valid JSON ({exc})"
            raise InstanceError(msg) from None
        for key in (f"{instance.name}_distance", instance.name, path.stem):
            entry = table.get(key)
            if not isinstance(entry, dict) or "best_known_cost" not in entry:
                continue
            objective = "distance only"
            if instance.kind == "solomon" and not key.endswith("_distance"):
                objective = "hierarchical: fewest vehicles, then distance"
            vehicles = entry.get("solved_with_vehicles")
            if vehicles is None and routes:
                vehicles = len(routes)
            return BestKnown(
                cost=float(entry["best_known_cost"]),
                source=f"{table_path.name}:{key}",
                objective=objective,
                vehicles=int(vehicles) if vehicles is not None else None,
                routes=routes,
            )
    if sol is not None and sol.cost is not None:
        return BestKnown(
            cost=sol.cost,
            source=sol_path.name,
            objective="distance only",
            vehicles=len(sol.routes),
            routes=sol.routes,
        )
    return None


# -- to the solver, and back ------------------------------------------------------------------


def default_scale(instance: Instance) -> int:
    """Integer solvers need whole numbers: keep two decimals of unrounded distances."""
    return 1 if instance.integral else 100


def to_problem(instance: Instance, *, scale: int) -> vrp.Problem:
    """The instance as a `vrp.Problem` on integer matrices, distances and times times `scale`.

    Costs are rounded; travel times are rounded up and windows' ends down, so that a schedule
    that fits the integer data also fits the unrounded one.
    """
    if scale < 1:
        msg = f"scale must be a positive integer, got {scale}"
        raise InstanceError(msg)
    scaled = instance.distance * scale
    cost = np.rint(scaled).astype(np.int64)
    duration = np.ceil(scaled - 1e-9).astype(np.int64)
    early = np.ceil(instance.ready * scale - 1e-9)
    late = np.where(
        np.isfinite(instance.due), np.floor(instance.due * scale + 1e-9), float(vrp.HORIZON)
    )
    late = np.minimum(late, vrp.HORIZON)
    service = np.ceil(instance.service * scale - 1e-9)
    sites = [
        vrp.Site(
            location=i,
            service=int(service[i]),
            tw_early=int(early[i]),
            tw_late=int(late[i]),
            demand=int(instance.demand[i]),
        )
        for i in range(1, instance.size)
    ]
    team = vrp.Team(
        start=0,
        end=0,
        tw_early=int(early[0]),
        tw_late=int(late[0]),
        capacity=instance.capacity,
        count=instance.vehicles,
    )
    return vrp.Problem(duration=duration, cost=cost, sites=sites, teams=[team], xy=instance.coords)


def node_routes(solution: vrp.Solution) -> list[list[int]]:
    """A solver's routes as instance nodes (site k sits at node k + 1, as `to_problem` builds)."""
    return [[i + 1 for i in r.sites] for r in solution.routes if r.sites]


@dataclass(frozen=True)
class Evaluation:
    cost: float
    routes: int
    feasible: bool
    faults: list[str]


def evaluate(
    instance: Instance, routes: Sequence[Sequence[int]], *, tolerance: float = TOLERANCE
) -> Evaluation:
    """Cost and feasibility of routes (lists of client nodes) in the instance's own convention.

    Travel time equals distance; a vehicle leaves the depot when it opens, waits for windows,
    and must be back before the depot closes.
    """
    d = instance.distance
    faults: list[str] = []
    seen = np.zeros(instance.size, dtype=np.int64)
    cost = 0.0
    used = [list(r) for r in routes if len(r)]
    for k, route in enumerate(used, start=1):
        bad = [c for c in route if not 1 <= c < instance.size]
        if bad:
            faults.append(f"route {k}: nodes {bad} are not clients (1..{instance.clients})")
            continue
        path = [0, *route, 0]
        cost += float(sum(d[a, b] for a, b in itertools.pairwise(path)))
        seen[route] += 1
        load = int(instance.demand[route].sum())
        if instance.capacity and load > instance.capacity:
            faults.append(f"route {k}: load {load} exceeds the capacity {instance.capacity}")
        clock = float(instance.ready[0])
        for a, b in zip(path[: len(route)], route, strict=True):
            clock = max(clock + float(d[a, b]), float(instance.ready[b]))  # wait if early
            if clock > instance.due[b] + tolerance:
                faults.append(
                    f"route {k}: client {b} served at {clock:.4f}, after its window closes "
                    f"({instance.due[b]:g})"
                )
            clock += float(instance.service[b])
        clock += float(d[route[-1], 0])
        if clock > instance.due[0] + tolerance:
            faults.append(
                f"route {k}: back at the depot at {clock:.4f}, after it closes "
                f"({instance.due[0]:g})"
            )
    if len(used) > instance.vehicles:
        faults.append(f"{len(used)} routes but only {instance.vehicles} vehicles")
    twice = np.flatnonzero(seen[1:] > 1) + 1
    if twice.size:
        faults.append(f"clients visited more than once: {twice.tolist()[:10]}")
    missing = np.flatnonzero(seen[1:] == 0) + 1
    if missing.size:
        faults.append(f"{missing.size} client(s) not visited: {missing.tolist()[:10]}")
    return Evaluation(cost=cost, routes=len(used), feasible=not faults, faults=faults)


# -- helpers ----------------------------------------------------------------------------------


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        msg = f"file not found: {path}"
        raise InstanceError(msg) from None
    except UnicodeDecodeError as exc:
        msg = f"{path.name}: not a text file ({exc.reason} at byte {exc.start})"
        raise InstanceError(msg) from None
    return list(enumerate(text.splitlines(), start=1))


def _numeric(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _float(word: str, path: Path, line: int, field: str) -> float:
    try:
        value = float(word)
    except ValueError:
        msg = f"{path.name} line {line}, field '{field}': not a number: {word!r}"
        raise InstanceError(msg) from None
    if not math.isfinite(value):
        msg = f"{path.name} line {line}, field '{field}': must be finite, got {word!r}"
        raise InstanceError(msg)
    return value


def _int(word: str, path: Path, line: int, field: str) -> int:
    value = _float(word, path, line, field)
    if value != int(value):
        msg = f"{path.name} line {line}, field '{field}': must be a whole number, got {word!r}"
        raise InstanceError(msg)
    return int(value)


def _whole(
    values: NDArray[np.float64], path: Path, lines: Sequence[int], field: str
) -> NDArray[np.int64]:
    for value, line in zip(values.tolist(), lines, strict=False):
        if value != int(value):
            msg = f"{path.name} line {line}, field '{field}': must be a whole number, got {value}"
            raise InstanceError(msg)
    return values.astype(np.int64)


def _euclidean(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    diff = coords[:, None, :] - coords[None, :, :]
    return np.sqrt((diff**2).sum(axis=-1))


def _per_node(
    path: Path, rows: list[tuple[int, list[str]]], n: int, width: int, section: str
) -> NDArray[np.float64]:
    """A section of 'id v1 … v_width' rows, one per node 1..n, as an (n, width) array."""
    out = np.full((n, width), np.nan)
    for line, words in rows:
        if len(words) != width + 1:
            msg = f"{path.name} line {line}, {section}: expected node id and {width} value(s)"
            raise InstanceError(msg)
        node = _int(words[0], path, line, f"{section} node id")
        if not 1 <= node <= n:
            msg = f"{path.name} line {line}, {section}: node id {node} outside 1..{n}"
            raise InstanceError(msg)
        if not np.isnan(out[node - 1, 0]):
            msg = f"{path.name} line {line}, {section}: node {node} is listed twice"
            raise InstanceError(msg)
        out[node - 1] = [_float(w, path, line, section) for w in words[1:]]
    missing = np.flatnonzero(np.isnan(out[:, 0])) + 1
    if missing.size:
        msg = f"{path.name}, {section}: no row for node(s) {missing.tolist()[:10]}"
        raise InstanceError(msg)
    return out


def _depot(path: Path, rows: list[tuple[int, list[str]]] | None, n: int) -> int:
    """The depot's index (0-based); node 1 when there is no DEPOT_SECTION (TSPLIB)."""
    if not rows:
        return 0
    ids = [(line, w) for line, words in rows for w in words]
    depots = []
    for line, w in ids:
        value = _int(w, path, line, "DEPOT_SECTION")
        if value == -1:
            break
        if not 1 <= value <= n:
            msg = f"{path.name} line {line}, DEPOT_SECTION: node id {value} outside 1..{n}"
            raise InstanceError(msg)
        depots.append(value)
    if len(depots) != 1:
        msg = f"{path.name}, DEPOT_SECTION: exactly one depot is supported, got {len(depots)}"
        raise InstanceError(msg)
    return depots[0] - 1


def _explicit(
    path: Path, rows: list[tuple[int, list[str]]] | None, n: int, fmt: str
) -> NDArray[np.float64]:
    if fmt not in _EXPLICIT_FORMATS:
        msg = f"{path.name}: EDGE_WEIGHT_FORMAT '{fmt}' is not supported ({_EXPLICIT_FORMATS})"
        raise InstanceError(msg)
    if not rows:
        msg = f"{path.name}: EDGE_WEIGHT_TYPE EXPLICIT needs an EDGE_WEIGHT_SECTION"
        raise InstanceError(msg)
    values = np.array(
        [_float(w, path, line, "EDGE_WEIGHT_SECTION") for line, words in rows for w in words]
    )
    full = np.indices((n, n)).reshape(2, -1)
    rows_at, cols_at = {
        "FULL_MATRIX": (full[0], full[1]),
        "LOWER_ROW": np.tril_indices(n, -1),
        "UPPER_ROW": np.triu_indices(n, 1),
        "LOWER_DIAG_ROW": np.tril_indices(n),
        "UPPER_DIAG_ROW": np.triu_indices(n),
    }[fmt]
    if values.size != rows_at.size:
        msg = (
            f"{path.name}, EDGE_WEIGHT_SECTION: {fmt} of {n} nodes needs {rows_at.size} "
            f"values, got {values.size}"
        )
        raise InstanceError(msg)
    out = np.zeros((n, n))
    out[rows_at, cols_at] = values
    if fmt != "FULL_MATRIX":
        out = np.maximum(out, out.T)  # symmetric: mirror the half given
    return out


def _check_nodes(
    path: Path,
    lines: Sequence[int],
    *,
    demand: NDArray[np.int64],
    ready: NDArray[np.float64],
    due: NDArray[np.float64],
    service: NDArray[np.float64],
    capacity: int,
    vehicles: int,
    label: str = "line",
) -> None:
    if vehicles < 1:
        msg = f"{path.name}: the number of vehicles must be at least 1, got {vehicles}"
        raise InstanceError(msg)
    if capacity < 0:
        msg = f"{path.name}: the capacity must not be negative, got {capacity}"
        raise InstanceError(msg)
    for k, where in enumerate(lines):
        place = f"{path.name} {label} {where}"
        if demand[k] < 0:
            msg = f"{place}, field 'DEMAND': must not be negative, got {demand[k]}"
            raise InstanceError(msg)
        if capacity and demand[k] > capacity:
            msg = f"{place}, field 'DEMAND': {demand[k]} exceeds the vehicle capacity {capacity}"
            raise InstanceError(msg)
        if service[k] < 0:
            msg = f"{place}, field 'SERVICE': must not be negative, got {service[k]:g}"
            raise InstanceError(msg)
        if ready[k] > due[k]:
            msg = (
                f"{place}, field 'DUE DATE': the window closes ({due[k]:g}) before it "
                f"opens ({ready[k]:g})"
            )
            raise InstanceError(msg)
