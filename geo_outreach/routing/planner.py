"""Route plans for outreach teams over the real street network.

The builder turns sites, the network and a mode's rules into a `vrp.Problem`; the solver core
(`vrp.solve_problem`) knows nothing of sites or streets; `to_plan` reads the solution back into a
`plan.Plan` with ETAs and the street geometry of every leg.
"""

from __future__ import annotations

import itertools
import math
import time as clock
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo_outreach.core.errors import GeoOutreachError, invalid
from geo_outreach.core.i18n import translator
from geo_outreach.core.plan import LeftOut, LeftOutReason, Mode, Plan, PlannedStop, TeamRoute
from geo_outreach.core.settings import Settings
from geo_outreach.core.vocab import LIVE_SITE_STATUSES
from geo_outreach.routing import network as nw
from geo_outreach.routing import vrp
from layers import audit
from layers.models import Facility, SleepingSite

MODES: tuple[Mode, ...] = ("streetwork", "joint", "akcja-zima", "inspection", "sos-bus")
TZ = ZoneInfo("Europe/Warsaw")
WALK_MS = nw.WALK_SPEED_MS
# Beyond this a site is not on the network's doorstep: reported unreachable, never guessed.
MAX_SNAP_M = {"walk": 300.0, "drive": 600.0}
SERVICE_MIN = {"streetwork": 15, "joint": 15, "akcja-zima": 20, "inspection": 10}
PROFILE: dict[str, nw.Profile] = {
    "streetwork": "walk",
    "joint": "drive",
    "akcja-zima": "drive",
    "inspection": "drive",
}
MANDATORY_PRIZE = 10_000_000  # far above any travel cost: cover every mandatory site you can
TEAMS = (1, 50)  # how many teams one plan may have (the API's schema states the same bounds)
SOLVER_SECONDS = (0.1, 600.0)
# The least time one solve of the extra-teams search gets: with less PyVRP rarely finds a
# feasible plan, so the search stops there and reports the bound it has.
MIN_SOLVE_SECONDS = 0.2
# How sure the "more teams needed" count is (see ExtraTeams).
Bound = Literal["exact", "at_most", "at_least"]


@dataclass(frozen=True)
class PlanRequest:
    mode: Mode
    teams: int
    start: time
    end: time
    day: date
    temperature: float | None = None
    threshold: float = -10.0
    district: str | None = None
    seconds: float = 2.0  # solver budget
    seed: int = 1
    iterations: int | None = None  # a fixed iteration count instead: reproducible on any machine
    depot: tuple[float, float] | None = None  # lon, lat; default: the MOPS office
    max_route_minutes: int | None = None
    # The office console's adjustments (issue 12): team names in team order (default
    # "Zespół n"), sites that must be visited or left out, sites kept for one team (1-based).
    names: tuple[str, ...] = ()
    require: frozenset[uuid.UUID] = frozenset()
    exclude: frozenset[uuid.UUID] = frozenset()
    lock: tuple[tuple[uuid.UUID, int], ...] = ()

    @property
    def window(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.day, self.start, TZ)
        end = datetime.combine(self.day, self.end, TZ)
        if end <= start:  # a night shift ends the next morning
            end = datetime.combine(self.day + timedelta(days=1), self.end, TZ)
        return start, end

    @property
    def seconds_long(self) -> int:
        """The shift's real length: across a DST change it is not the clock difference."""
        start, end = self.window
        return int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds())

    def at(self, seconds: float) -> datetime:
        """Local time `seconds` after the shift starts (added in UTC, shown in Warsaw time)."""
        return (self.window[0].astimezone(UTC) + timedelta(seconds=seconds)).astimezone(TZ)


def validate(req: PlanRequest) -> None:
    """Refuse a request whose fields cannot make a plan, naming the field (ValidationFailed)."""
    if req.mode not in MODES:
        msg = f"'{req.mode}' is not one of: {', '.join(MODES)}"
        raise invalid("mode", msg)
    if not TEAMS[0] <= req.teams <= TEAMS[1]:
        msg = f"must be between {TEAMS[0]} and {TEAMS[1]}, got {req.teams}"
        raise invalid("teams", msg)
    if req.mode == "akcja-zima":
        if req.temperature is None:
            msg = "is required for akcja-zima (the action runs at or below −10 °C)"
            raise invalid("temperature", msg)
        if req.temperature > req.threshold:
            msg = (
                f"{req.temperature:g} °C is above the Akcja Zima threshold "
                f"{req.threshold:g} °C: plan a joint patrol instead"
            )
            raise invalid("temperature", msg)
    if req.mode == "inspection" and not req.district:
        msg = "is required for inspection (every site of one district)"
        raise invalid("district", msg)
    low, high = SOLVER_SECONDS
    if not low <= req.seconds <= high:
        msg = f"must be between {low:g} and {high:g}, got {req.seconds:g}"
        raise invalid("seconds", msg)
    _validate_adjustments(req)


def _validate_adjustments(req: PlanRequest) -> None:
    if req.names and len(req.names) != req.teams:
        msg = f"{len(req.names)} team name(s) for {req.teams} team(s)"
        raise invalid("crews", msg)
    both = req.require & req.exclude
    if both:
        msg = f"site {min(both)} is both required and excluded"
        raise invalid("exclude", msg)
    seen: set[uuid.UUID] = set()
    for site, team in req.lock:
        if not 1 <= team <= req.teams:
            msg = f"site {site}: team {team} is not between 1 and {req.teams}"
            raise invalid("lock", msg)
        if site in req.exclude:
            msg = f"site {site} is both locked to a team and excluded"
            raise invalid("lock", msg)
        if site in seen:
            msg = f"site {site} is locked twice"
            raise invalid("lock", msg)
        seen.add(site)


def vulnerable(people: int, hazards: tuple[str, ...] | list[str]) -> bool:
    """The most vulnerable: three or more people, or exposure to cold or carbon monoxide."""
    return people >= 3 or bool({"cold_exposure", "carbon_monoxide"} & set(hazards))


@dataclass(frozen=True)
class Candidate:
    id: uuid.UUID | None
    code: str
    name: str
    lon: float
    lat: float
    people: int
    hazards: tuple[str, ...]
    last_visit_at: datetime | None
    mandatory: bool
    vulnerable: bool = False


def candidates(session: Session, req: PlanRequest) -> list[Candidate]:
    """The sites a mode must or may visit, read once (and audited: this is site data)."""
    stmt = select(
        SleepingSite.id,
        SleepingSite.code,
        SleepingSite.name,
        func.ST_X(SleepingSite.geom),
        func.ST_Y(SleepingSite.geom),
        SleepingSite.estimated_people,
        SleepingSite.hazards,
        SleepingSite.last_visit_at,
        SleepingSite.status,
        SleepingSite.district,
    ).order_by(SleepingSite.code)
    if req.mode == "inspection":
        stmt = stmt.where(SleepingSite.district == req.district, SleepingSite.status != "closed")
    elif req.mode == "akcja-zima":
        stmt = stmt.where(SleepingSite.status == "active", SleepingSite.estimated_people > 0)
    else:
        stmt = stmt.where(SleepingSite.status.in_(LIVE_SITE_STATUSES))
    rows = session.execute(stmt).all()
    if req.mode == "inspection" and not rows:
        known = session.execute(
            select(SleepingSite.district).distinct().order_by(SleepingSite.district)
        ).scalars()
        names = ", ".join(filter(None, known))
        msg = f"no sites in '{req.district}'; districts with sites: {names}"
        raise invalid("district", msg)
    out = []
    for r in rows:
        hazards = tuple(r[6] or ())
        mandatory = req.mode == "inspection" or (req.mode == "akcja-zima" and r[5] > 0)
        weak = vulnerable(r[5], hazards)
        out.append(Candidate(r[0], r[1], r[2], r[3], r[4], r[5], hazards, r[7], mandatory, weak))
    return out


def default_depot(session: Session, near: tuple[float, float]) -> tuple[float, float]:
    """The MOPS office nearest to the sites (teams start and end there)."""
    point = func.ST_SetSRID(func.ST_MakePoint(*near), 4326)
    row = session.execute(
        select(func.ST_X(Facility.geom), func.ST_Y(Facility.geom))
        .where(Facility.type == "mops")
        .order_by(func.ST_Distance(Facility.geom, point))
        .limit(1)
    ).first()
    if row is None:
        msg = "no MOPS office in the facilities layer to start from; give the depot (lon, lat)"
        raise invalid("depot", msg)
    return float(row[0]), float(row[1])


def prize(c: Candidate, req: PlanRequest, now: datetime) -> int:
    """How much an optional visit is worth, in seconds of travel the team would spend for it."""
    if c.mandatory:
        return MANDATORY_PRIZE
    days = 60 if c.last_visit_at is None else min(60, max(0, (now - c.last_visit_at).days))
    cold = max(0.0, -(req.temperature or 5.0))  # below zero every person counts more
    value = 600 + 25 * days + 300 * c.people + 200 * len(c.hazards) + 40 * cold * c.people
    return int(value)


@dataclass
class Built:
    """A built problem and what is needed to read its solution back."""

    problem: vrp.Problem
    request: PlanRequest
    sites: list[Candidate]  # problem.sites[i] is sites[i]
    unreachable: list[Candidate]
    matrix: nw.Matrix
    depot: tuple[float, float]
    network: nw.Network
    # Sites no team can serve within the shift however many teams go out (too far for their
    # window): reported, but left out of the "more teams needed" count.
    never: set[int] = field(default_factory=set)
    excluded: list[Candidate] = field(default_factory=list)  # left out by the planner's choice


def _known(cands: list[Candidate], req: PlanRequest) -> None:
    """Every site named by require/exclude/lock is one this plan could visit."""
    ids = {c.id for c in cands}
    named = [
        ("require", req.require),
        ("exclude", req.exclude),
        ("lock", frozenset(site for site, _ in req.lock)),
    ]
    for name, sites in named:
        unknown = sorted(str(s) for s in sites - ids)
        if unknown:
            msg = f"{unknown[0]} is not a site a {req.mode} plan can visit (unknown or closed)"
            raise invalid(name, msg)


def build(
    cands: list[Candidate],
    req: PlanRequest,
    net: nw.Network,
    *,
    depot: tuple[float, float],
    now: datetime,
) -> Built:
    """Snap, compute the travel-time matrix, and state the mode's rules as a vrp.Problem."""
    validate(req)
    _known(cands, req)
    excluded = [c for c in cands if c.id in req.exclude]
    cands = [c for c in cands if c.id not in req.exclude]
    locked = dict(req.lock)
    profile = net.profile
    lon = np.array([depot[0], *(c.lon for c in cands)])
    lat = np.array([depot[1], *(c.lat for c in cands)])
    snapped = nw.snap(net, lon, lat)
    if snapped.metres[0] > MAX_SNAP_M[profile]:
        msg = (
            f"({depot[0]:.5f}, {depot[1]:.5f}) is {snapped.metres[0]:.0f} m "
            f"from the {profile} network"
        )
        raise invalid("depot", msg)
    ok = snapped.metres[1:] <= MAX_SNAP_M[profile]
    reachable = [c for c, good in zip(cands, ok, strict=True) if good]
    unreachable = [c for c, good in zip(cands, ok, strict=True) if not good]
    for c in unreachable:
        wanted = "lock" if c.id in locked else "require" if c.id in req.require else None
        if wanted:
            far = MAX_SNAP_M[profile]
            msg = f"site {c.code} is more than {far:.0f} m from the {profile} network"
            raise invalid(wanted, msg)
    nodes = np.concatenate([snapped.node[:1], snapped.node[1:][ok]])
    walk_extra = snapped.metres[1:][ok] / WALK_MS  # from the street to the site, on foot
    services = SERVICE_MIN[req.mode] * 60 + (2 * walk_extra).astype(np.int64)
    horizon = req.seconds_long
    max_duration = min(horizon, (req.max_route_minutes or horizon // 60) * 60)
    # Only legs some route within max_duration could use are searched for; the others are inf.
    matrix = nw.travel_matrix(
        net, nodes, budget=float(max_duration), stay=np.r_[0, services].astype(np.float64)
    )
    seconds = matrix.seconds.copy()
    # Legs no route can use, and points outside each other's reach, cost a day.
    seconds[~np.isfinite(seconds)] = 86_400
    sites: list[vrp.Site] = []
    never: set[int] = set()
    for k, c in enumerate(reachable):
        service = int(services[k])
        late = horizon - service
        if req.mode == "akcja-zima" and c.vulnerable:
            # The most vulnerable first: they must be reached in the first half of the night.
            late = min(late, horizon // 2)
        sites.append(
            vrp.Site(
                location=k + 1,
                service=service,
                tw_early=0,
                tw_late=max(0, late),
                prize=prize(c, req, now),
                # Mandatory ones carry a prize no route would leave behind; the office's
                # required and locked sites must be on a route (else no plan: 422).
                required=c.id in req.require or c.id in locked,
                teams=(locked[c.id] - 1,) if c.id in locked else None,
            )
        )
        there, back = seconds[0, k + 1], seconds[k + 1, 0]
        if there > max(0, late) or there + service + back > max_duration:
            never.add(k)
    team = vrp.Team(start=0, end=0, tw_early=0, tw_late=horizon, max_duration=max_duration,
                    count=req.teams)  # fmt: skip
    # A site locked to a team needs the teams told apart: one vehicle type each.
    teams = [replace(team, count=1)] * req.teams if locked else [team]
    # Rounded up: a planned time is never earlier than the real one, however many legs add up.
    duration = np.ceil(seconds).astype(np.int64)
    problem = vrp.Problem(
        duration=duration,
        cost=duration,
        sites=sites,
        teams=teams,
        xy=np.column_stack(
            [lon[np.r_[0, 1 + np.flatnonzero(ok)]], lat[np.r_[0, 1 + np.flatnonzero(ok)]]]
        ),
    )
    return Built(problem, req, reachable, unreachable, matrix, depot, net, never, excluded)


def to_plan(
    built: Built, solution: vrp.Solution, *, extra_teams: int = 0, extra_bound: Bound = "exact"
) -> Plan:
    req = built.request
    # A plan is stored in Polish, the source language; maps show the default team name in theirs.
    _ = translator("pl").gettext
    start, end = req.window
    routes: list[TeamRoute] = []
    net = built.network
    split = len(built.problem.teams) > 1  # teams told apart (locks): the vehicle type is the team
    for k, r in enumerate(solution.routes, start=1):
        n = r.team + 1 if split else k
        stops: list[PlannedStop] = []
        path: list[int] = []
        points = [0, *(i + 1 for i in r.sites), 0]
        for a, b in itertools.pairwise(points):
            leg = nw.leg_nodes(built.matrix, a, b)
            path.extend(leg if not path else leg[1:])
        for seq, (i, at) in enumerate(zip(r.sites, r.arrive, strict=True), start=1):
            c = built.sites[i]
            service = built.problem.sites[i].service
            arrive = req.at(at)
            stops.append(
                PlannedStop(
                    seq=seq,
                    site_id=c.id,
                    code=c.code,
                    name=c.name,
                    lon=c.lon,
                    lat=c.lat,
                    arrive=arrive,
                    depart=req.at(at + service),
                    service_minutes=math.ceil(service / 60),
                    estimated_people=c.people,
                    hazards=c.hazards,
                )
            )
        geometry = [(float(net.lon[x]), float(net.lat[x])) for x in path]
        routes.append(
            TeamRoute(
                team=n,
                name=req.names[n - 1] if req.names else _("Zespół %(n)d") % {"n": n},
                start=built.depot,
                end=built.depot,
                depart=req.at(r.start),
                back=req.at(r.end),
                stops=stops,
                distance_m=nw.path_metres(net, path),
                duration_s=float(r.end - r.start),
                geometry=geometry,
            )
        )
    routes.sort(key=lambda route: route.team)
    left: list[LeftOut] = [
        LeftOut(c.id, c.code, c.name, c.lon, c.lat, "unreachable", c.vulnerable)
        for c in built.unreachable
    ]
    left += [
        LeftOut(c.id, c.code, c.name, c.lon, c.lat, "excluded", c.vulnerable)
        for c in built.excluded
    ]
    planned_prizes = sorted(built.problem.sites[i].prize for r in solution.routes for i in r.sites)
    median = planned_prizes[len(planned_prizes) // 2] if planned_prizes else 0
    for i in solution.unplanned:
        c = built.sites[i]
        important = c.mandatory or built.problem.sites[i].prize >= median
        reason: LeftOutReason = "no_time" if important else "lower_priority"
        left.append(LeftOut(c.id, c.code, c.name, c.lon, c.lat, reason, c.vulnerable))
    notes = []
    if built.never:
        never = _(
            "%(n)d miejsc nie da się obsłużyć w tej zmianie żadnym zespołem "
            "(za daleko od bazy na ich okno czasowe)."
        )
        notes.append(never % {"n": len(built.never)})
    if extra_teams:
        more = {
            "exact": _("Do objęcia wszystkich miejsc potrzeba jeszcze %(n)d zespołów."),
            "at_most": _(
                "Do objęcia wszystkich miejsc wystarczy jeszcze najwyżej %(n)d zespołów: "
                "czas obliczeń skończył się przed ustaleniem dokładnej liczby."
            ),
            "at_least": _(
                "Do objęcia wszystkich miejsc potrzeba jeszcze co najmniej %(n)d zespołów: "
                "dokładnej liczby nie ustalono w czasie obliczeń."
            ),
        }[extra_bound]
        notes.append(more % {"n": extra_teams})
    return Plan(
        mode=req.mode,
        window_start=start,
        window_end=end,
        routes=[r for r in routes if r.stops],
        left_out=left,
        extra_teams_needed=extra_teams,
        notes=notes,
    )


def _check_required(built: Built, solution: vrp.Solution) -> None:
    """The office's required and locked sites are on their routes, in time, or there is no plan."""
    wanted = [i for i, s in enumerate(built.problem.sites) if s.required]
    if not wanted or (solution.feasible and not set(wanted) & set(solution.unplanned)):
        return
    req = built.request
    field_name = "lock" if req.lock else "require"
    codes = ", ".join(built.sites[i].code for i in wanted[:5])
    msg = (
        f"the required and locked sites ({codes}{', …' if len(wanted) > 5 else ''}) do not fit "
        f"into the shift of {req.teams} team(s): require fewer or add a team"
    )
    raise invalid(field_name, msg)


@dataclass(frozen=True)
class ExtraTeams:
    """How many more teams would cover every mandatory site: `exact`, or when the time budget
    ran out the best bound known: `at_most` once some number was seen to cover them all,
    `at_least` before that (or at the search's limit)."""

    count: int
    bound: Bound = "exact"


def extra_teams_needed(built: Built, *, seconds: float, seed: int, limit: int = 64) -> ExtraTeams:
    """How many more teams would cover every mandatory reachable site, within `seconds` in all.

    Starts from a lower bound (the work divided by the shift), then doubles and bisects, so a
    handful of solves answer even when many teams are missing. The solves share the one budget
    (each gets what is left divided by the solves still expected, at least MIN_SOLVE_SECONDS);
    when it runs out the search stops with the bound it has. With a fixed iteration count
    (the CLI's reproducible runs) every solve does that work and the clock does not stop it.
    """
    problem = built.problem
    # However the plan told its teams apart, more teams are asked of one kind of team.
    base = replace(problem.teams[0], count=sum(t.count for t in problem.teams))
    mandatory = {i for i, c in enumerate(built.sites) if c.mandatory} - built.never
    if not mandatory:
        return ExtraTeams(0)
    iterations = built.request.iterations
    deadline = clock.monotonic() + seconds

    def share(steps: int) -> float | None:
        """The next solve's part of what is left; None: too little is left for a solve."""
        if iterations:
            return seconds
        left = deadline - clock.monotonic()
        return None if left < MIN_SOLVE_SECONDS else max(MIN_SOLVE_SECONDS, left / steps)

    # Only the mandatory sites, each required: a feasible solution is a yes.
    required = [
        replace(problem.sites[i], required=True, prize=0, teams=None) for i in sorted(mandatory)
    ]

    def covers(extra: int, budget: float) -> bool:
        team = replace(base, count=base.count + extra)
        trial = vrp.Problem(problem.duration, problem.cost, required, [team], problem.xy)
        solution = vrp.solve_problem(trial, seconds=budget, seed=seed, iterations=iterations)
        return solution.feasible and not solution.unplanned

    def halvings(low: int, high: int) -> int:
        return math.ceil(math.log2(high - low + 1))

    duration = problem.duration.astype(float)
    np.fill_diagonal(duration, np.inf)
    work = sum(
        problem.sites[i].service + float(duration[:, problem.sites[i].location].min())
        for i in mandatory
    )
    low = max(1, math.ceil(work / max(1, base.max_duration)) - base.count)
    high = low
    while True:
        # This solve, perhaps one more doubling, then the bisection it leaves open.
        budget = share(2 + halvings(0, high))
        if budget is None:
            return ExtraTeams(low, "at_least")
        if covers(high, budget):
            break
        if high >= limit:
            return ExtraTeams(limit, "at_least")
        low, high = high + 1, min(limit, high * 2)
    while low < high:  # covers(high) holds; find the smallest that does
        budget = share(halvings(low, high))
        if budget is None:
            return ExtraTeams(high, "at_most")
        mid = (low + high) // 2
        if covers(mid, budget):
            high = mid
        else:
            low = mid + 1
    return ExtraTeams(high)


@dataclass(frozen=True)
class Prepared:
    """What a plan needs from the database, read (and audited) before the solve: the solve
    itself needs no connection, so it holds no transaction open."""

    request: PlanRequest
    candidates: list[Candidate]
    depot: tuple[float, float]


def prepare(
    session: Session,
    req: PlanRequest,
    *,
    actor: str,
    role: str,
    progress: Callable[[str], None] = lambda _: None,
) -> Prepared:
    """The request checked, its sites read (the audit row says who asked) and the depot."""
    validate(req)
    if req.mode == "sos-bus":
        msg = "sos-bus plans come from geo_outreach.routing.bus.coverage (stop times, coverage)"
        raise invalid("mode", msg)
    progress(f"sites for {req.mode} …")
    cands = candidates(session, req)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="read",
        layer="sleeping_sites",
        object_ids=[c.id for c in cands if c.id is not None],
        detail={"purpose": f"plan {req.mode}", "sites": len(cands)},
    )
    if not cands:
        msg = f"no sites to visit for {req.mode}"
        raise GeoOutreachError(msg)
    centre = (float(np.mean([c.lon for c in cands])), float(np.mean([c.lat for c in cands])))
    return Prepared(req, cands, req.depot or default_depot(session, centre))


def solve(
    ready: Prepared,
    *,
    pbf: Path,
    cache_dir: Path | None,
    progress: Callable[[str], None] = lambda _: None,
) -> Plan:
    """The network, the solve and, for the modes that must cover every site, how many more
    teams would; `req.seconds` for the plan and as much again, in all, for that count."""
    req = ready.request
    progress(f"{PROFILE[req.mode]} network from {pbf.name} …")
    net = nw.load_network(pbf, PROFILE[req.mode], cache_dir=cache_dir)
    progress(f"travel-time matrix for {len(ready.candidates) + 1} points …")
    built = build(ready.candidates, req, net, depot=ready.depot, now=req.window[0])
    progress(f"solving for {req.teams} team(s), {req.seconds:g} s …")
    solution = vrp.solve_problem(
        built.problem, seconds=req.seconds, seed=req.seed, iterations=req.iterations
    )
    _check_required(built, solution)
    extra = ExtraTeams(0)
    if req.mode in ("akcja-zima", "inspection"):
        missing = [
            i for i in solution.unplanned if built.sites[i].mandatory and i not in built.never
        ]
        if missing:
            progress(f"{len(missing)} mandatory site(s) not covered: how many more teams …")
            extra = extra_teams_needed(built, seconds=req.seconds, seed=req.seed)
    progress("route geometry along the streets …")
    return to_plan(built, solution, extra_teams=extra.count, extra_bound=extra.bound)


def make_plan(
    session: Session,
    req: PlanRequest,
    *,
    pbf: Path,
    cache_dir: Path | None,
    actor: str,
    role: str,
    progress: Callable[[str], None] = lambda _: None,
) -> Plan:
    """Everything from the database to a Plan; the CLI and the winter check call this (each
    says who asks: actor and role go into the audit row of the sites read)."""
    ready = prepare(session, req, actor=actor, role=role, progress=progress)
    return solve(ready, pbf=pbf, cache_dir=cache_dir, progress=progress)


def store_plan(
    session: Session,
    plan: Plan,
    *,
    actor: str,
    role: str,
    label: str | None = None,
    team_size: dict[int, int] | None = None,
) -> list[uuid.UUID]:
    """Keep the plan as planned patrols with their ordered stops; returns the patrol ids (in
    route order). `label` goes into each patrol's notes after the team's name; `team_size` is
    the number of people per team (default 2)."""
    from geo_outreach.routing.exports import MODE_KIND
    from layers.models import Patrol, PatrolStop

    ids = []
    stamp = plan.window_start.strftime("%Y%m%d-%H%M")
    for r in plan.routes:
        code = f"PLAN-{stamp}-{plan.mode}-{r.team}-{uuid.uuid4().hex[:6]}"
        line = ", ".join(f"{x:.7f} {y:.7f}" for x, y in r.geometry)
        patrol = Patrol(
            code=code,
            kind=MODE_KIND[plan.mode],
            agencies=["mops", "straz_miejska"]
            if plan.mode in ("joint", "akcja-zima")
            else ["mops"],
            planned_start=r.depart,
            planned_end=max(r.back, r.depart + timedelta(minutes=1)),
            team_size=min(50, max(1, (team_size or {}).get(r.team, 2))),
            status="planned",
            planned_route=f"SRID=4326;LINESTRING({line})" if len(r.geometry) > 1 else None,
            notes=f"{r.name} – {label}" if label else None,
            created_by=actor,
            updated_by=actor,
        )
        session.add(patrol)
        session.flush()
        for s in r.stops:
            session.add(
                PatrolStop(
                    patrol_id=patrol.id,
                    seq=s.seq,
                    site_id=s.site_id,
                    eta=s.arrive,
                    service_minutes=s.service_minutes,
                    geom=f"SRID=4326;POINT({s.lon:.7f} {s.lat:.7f})",
                )
            )
        ids.append(patrol.id)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="create",
        layer="patrols",
        object_ids=ids,
        detail={"mode": plan.mode, "routes": len(ids)},
    )
    return ids


def describe(plan: Plan) -> str:
    """A few lines for the terminal."""
    lines = [
        f"plan {plan.mode}: {plan.window_start:%Y-%m-%d %H:%M} – {plan.window_end:%H:%M}, "
        f"{len(plan.routes)} route(s)"
    ]
    for r in plan.routes:
        lines.append(
            f"  {r.name}: {len(r.stops)} sites, {r.distance_m / 1000:.1f} km, "
            f"{r.depart:%H:%M}–{r.back:%H:%M}"
        )
    reasons: dict[str, int] = {}
    for left in plan.left_out:
        reasons[left.reason] = reasons.get(left.reason, 0) + 1
    if reasons:
        lines.append("  left out: " + ", ".join(f"{n} {k}" for k, n in sorted(reasons.items())))
    if plan.extra_teams_needed:
        lines.append(f"  to cover every site: {plan.extra_teams_needed} more team(s) needed")
    return "\n".join(lines)


def tonight_request(day: date) -> PlanRequest:
    """The demo's "tonight": an Akcja Zima night at −12 °C for three teams."""
    return PlanRequest(
        mode="akcja-zima",
        teams=3,
        start=time(20, 0),
        end=time(2, 0),
        day=day,
        temperature=-12.0,
        seconds=2.0,
    )


def plan_tonight(
    session: Session,
    settings: Settings,
    *,
    actor: str,
    role: str,
    progress: Callable[[str], None] = lambda _: None,
) -> Plan:
    req = tonight_request(datetime.now(TZ).date())
    return make_plan(
        session,
        req,
        pbf=settings.pbf,
        cache_dir=settings.cache_dir,
        actor=actor,
        role=role,
        progress=progress,
    )
