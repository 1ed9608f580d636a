"""The programme's yearly indicator tables, counted from the logs.

`collect` runs one SQL query per indicator group (bound parameters only) and writes the audit
rows; `build_tables` turns the numbers into labelled tables in one language and does no I/O.
Only aggregates leave this module: never a site's name, code, position or a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo_outreach.core.errors import GeoOutreachError, invalid
from geo_outreach.core.i18n import LANGS, N_, translator
from geo_outreach.core.vocab import (
    FACILITY_TYPES,
    PATROL_KINDS,
    SITE_CATEGORIES,
    SITE_STATUSES,
    Labels,
    Lang,
    label,
)
from layers import audit

MIN_YEAR = 2000
MAX_COMPARE = 10
# Patrols that took place; planned or cancelled ones are not reported.
HELD_STATUSES = ["done", "in_progress"]
NO_PATROL = "none"  # contacts logged without a patrol
UNSPECIFIED = "unspecified"  # referrals whose facility type was not given

Number = int | float
Series = dict[int, Number]  # year → value


class ReportInputError(GeoOutreachError):
    """A report option is out of range; the message names the option."""


def validate(*, year: int, compare: int, lang: str, today: date | None = None) -> Lang:
    """Check the options of `geo-outreach report`; return the language code."""
    last = (today or date.today()).year + 1
    if not MIN_YEAR <= year <= last:
        msg = f"{year} is out of range; use a year from {MIN_YEAR} to {last}"
        raise invalid("year", msg)
    if not 0 <= compare <= MAX_COMPARE:
        msg = f"{compare} is out of range; use 0 to {MAX_COMPARE} previous years"
        raise invalid("compare", msg)
    if year - compare < MIN_YEAR:
        msg = f"{compare} years before {year} goes back before {MIN_YEAR}"
        raise invalid("compare", msg)
    for code in LANGS:
        if lang == code:
            return code
    msg = f"'{lang}' is not supported; use one of {', '.join(LANGS)}"
    raise invalid("lang", msg)


# -- the numbers -------------------------------------------------------------------------------


@dataclass
class ReportData:
    """Raw aggregates for the report year and the years compared (no labels, no site data)."""

    year: int
    years: list[int]
    generated_at: datetime
    timezone: str
    # (kind, measure) → year → value; measure: patrols | hours | people_met
    patrols: dict[tuple[str, str], Series] = field(default_factory=dict)
    patrol_years: set[int] = field(default_factory=set)
    contacts: dict[str, Series] = field(default_factory=dict)
    contact_years: set[int] = field(default_factory=set)
    referrals: dict[str, Series] = field(default_factory=dict)
    sos_bus: dict[str, Series] = field(default_factory=dict)
    sos_years: set[int] = field(default_factory=set)
    # category → status → sites, as registered when the report is made
    sites: dict[str, dict[str, int]] = field(default_factory=dict)
    # month (1..12) series of the report year
    monthly_patrols: dict[str, list[int]] = field(default_factory=dict)
    monthly_contacts: dict[str, list[int]] = field(default_factory=dict)
    monthly_sos: dict[str, list[int]] = field(default_factory=dict)
    demo_rows: int = 0


def _window(years: list[int], tz: str) -> dict[str, Any]:
    zone = ZoneInfo(tz)
    return {
        "start": datetime(min(years), 1, 1, tzinfo=zone),
        "end": datetime(max(years) + 1, 1, 1, tzinfo=zone),
        "tz": tz,
    }


def patrol_indicators(
    session: Session, *, years: list[int], tz: str
) -> tuple[dict[tuple[str, str], Series], set[int]]:
    """Patrols held and their hours (sum of planned_end − planned_start) by kind and year, and
    the people met on them (by the visit's own date)."""
    out: dict[tuple[str, str], Series] = {}
    seen: set[int] = set()
    held = session.execute(
        text(
            """
            SELECT extract(year FROM p.planned_start AT TIME ZONE :tz)::int AS y,
                   p.kind,
                   count(*) AS patrols,
                   sum(extract(epoch FROM p.planned_end - p.planned_start)) / 3600.0 AS hours
            FROM patrols p
            WHERE p.status = ANY(:held)
              AND p.planned_start >= :start AND p.planned_start < :end
            GROUP BY 1, 2
            """
        ),
        {**_window(years, tz), "held": HELD_STATUSES},
    ).all()
    for y, kind, patrols, hours in held:
        seen.add(int(y))
        out.setdefault((kind, "patrols"), {})[int(y)] = int(patrols)
        out.setdefault((kind, "hours"), {})[int(y)] = _number(hours)
    met = session.execute(
        text(
            """
            SELECT extract(year FROM v.visited_at AT TIME ZONE :tz)::int AS y,
                   p.kind,
                   sum(v.people_met) AS people
            FROM visits v JOIN patrols p ON p.id = v.patrol_id
            WHERE v.visited_at >= :start AND v.visited_at < :end
            GROUP BY 1, 2
            """
        ),
        _window(years, tz),
    ).all()
    for y, kind, people in met:
        seen.add(int(y))
        out.setdefault((kind, "people_met"), {})[int(y)] = int(people)
    return out, seen


CONTACT_MEASURES = (
    "visits",
    "people_met",
    "women_met",
    "people_aided",
    "on_request_of_services",
    "people_referred",
)


def contact_indicators(
    session: Session, *, years: list[int], tz: str
) -> tuple[dict[str, Series], set[int]]:
    """Contacts of the year: visits, people met, women, pre-medical aids, interventions on
    request of services (visits so flagged), people referred."""
    rows = session.execute(
        text(
            """
            SELECT extract(year FROM v.visited_at AT TIME ZONE :tz)::int AS y,
                   count(*) AS visits,
                   sum(v.people_met) AS people_met,
                   sum(v.women_met) AS women_met,
                   sum(v.people_aided) AS people_aided,
                   count(*) FILTER (WHERE v.on_request_of_services) AS on_request_of_services,
                   sum(v.people_referred) AS people_referred
            FROM visits v
            WHERE v.visited_at >= :start AND v.visited_at < :end
            GROUP BY 1
            """
        ),
        _window(years, tz),
    ).all()
    out: dict[str, Series] = {m: {} for m in CONTACT_MEASURES}
    seen: set[int] = set()
    for row in rows:
        y = int(row.y)
        seen.add(y)
        for m in CONTACT_MEASURES:
            out[m][y] = int(getattr(row, m))
    return out, seen


def referral_indicators(session: Session, *, years: list[int], tz: str) -> dict[str, Series]:
    """People referred, by the type of facility they were referred to."""
    rows = session.execute(
        text(
            """
            SELECT extract(year FROM v.visited_at AT TIME ZONE :tz)::int AS y,
                   coalesce(v.referral_facility_type, :unspecified) AS facility_type,
                   sum(v.people_referred) AS people
            FROM visits v
            WHERE v.visited_at >= :start AND v.visited_at < :end AND v.people_referred > 0
            GROUP BY 1, 2
            """
        ),
        {**_window(years, tz), "unspecified": UNSPECIFIED},
    ).all()
    out: dict[str, Series] = {}
    for y, facility_type, people in rows:
        out.setdefault(facility_type, {})[int(y)] = int(people)
    return out


SOS_MEASURES = ("duties", "uses", "meals", "clothes", "rides_to_warming_centre")


def sos_bus_indicators(session: Session, *, years: list[int]) -> tuple[dict[str, Series], set[int]]:
    """SOS bus duties (evenings logged), uses, meals, clothes and rides to the warming centre."""
    rows = session.execute(
        text(
            """
            SELECT extract(year FROM d.duty_date)::int AS y,
                   count(*) AS duties,
                   sum(d.uses) AS uses,
                   sum(d.meals) AS meals,
                   sum(d.clothes) AS clothes,
                   sum(d.rides_to_warming_centre) AS rides_to_warming_centre
            FROM sos_bus_duties d
            WHERE d.duty_date >= :first AND d.duty_date < :after
            GROUP BY 1
            """
        ),
        {"first": date(min(years), 1, 1), "after": date(max(years) + 1, 1, 1)},
    ).all()
    out: dict[str, Series] = {m: {} for m in SOS_MEASURES}
    seen: set[int] = set()
    for row in rows:
        y = int(row.y)
        seen.add(y)
        for m in SOS_MEASURES:
            out[m][y] = int(getattr(row, m))
    return out, seen


def site_indicators(session: Session) -> dict[str, dict[str, int]]:
    """Sites in the register by count category and status, as they stand now."""
    rows = session.execute(
        text("SELECT category, status, count(*) FROM sleeping_sites GROUP BY 1, 2")
    ).all()
    out: dict[str, dict[str, int]] = {}
    for category, status, n in rows:
        out.setdefault(category, {})[status] = int(n)
    return out


def monthly_indicators(
    session: Session, *, year: int, tz: str
) -> tuple[dict[str, list[int]], dict[str, list[int]], dict[str, list[int]]]:
    """Month by month in the report year: patrols by kind, people met by patrol kind, and the
    SOS bus's duties, uses and rides."""
    window = _window([year], tz)
    patrols: dict[str, list[int]] = {}
    for month, kind, n in session.execute(
        text(
            """
            SELECT extract(month FROM p.planned_start AT TIME ZONE :tz)::int, p.kind, count(*)
            FROM patrols p
            WHERE p.status = ANY(:held)
              AND p.planned_start >= :start AND p.planned_start < :end
            GROUP BY 1, 2
            """
        ),
        {**window, "held": HELD_STATUSES},
    ).all():
        patrols.setdefault(kind, [0] * 12)[int(month) - 1] = int(n)
    contacts: dict[str, list[int]] = {}
    for month, kind, n in session.execute(
        text(
            """
            SELECT extract(month FROM v.visited_at AT TIME ZONE :tz)::int,
                   coalesce(p.kind, :none), sum(v.people_met)
            FROM visits v LEFT JOIN patrols p ON p.id = v.patrol_id
            WHERE v.visited_at >= :start AND v.visited_at < :end
            GROUP BY 1, 2
            """
        ),
        {**window, "none": NO_PATROL},
    ).all():
        contacts.setdefault(kind, [0] * 12)[int(month) - 1] = int(n)
    sos: dict[str, list[int]] = {m: [0] * 12 for m in ("duties", "uses", "meals")}
    for month, duties, uses, meals in session.execute(
        text(
            """
            SELECT extract(month FROM d.duty_date)::int, count(*), sum(d.uses), sum(d.meals)
            FROM sos_bus_duties d
            WHERE d.duty_date >= :first AND d.duty_date < :after
            GROUP BY 1
            """
        ),
        {"first": date(year, 1, 1), "after": date(year + 1, 1, 1)},
    ).all():
        sos["duties"][int(month) - 1] = int(duties)
        sos["uses"][int(month) - 1] = int(uses)
        sos["meals"][int(month) - 1] = int(meals)
    return patrols, contacts, sos


def _demo_rows(session: Session, *, years: list[int], tz: str) -> int:
    return int(
        session.execute(
            text(
                """
                SELECT (SELECT count(*) FROM visits
                        WHERE is_demo AND visited_at >= :start AND visited_at < :end)
                     + (SELECT count(*) FROM patrols
                        WHERE is_demo AND planned_start >= :start AND planned_start < :end)
                """
            ),
            _window(years, tz),
        ).scalar_one()
    )


def collect(
    session: Session,
    *,
    year: int,
    compare: int = 0,
    actor: str,
    role: str,
    timezone: str = "Europe/Warsaw",
    now: datetime | None = None,
) -> ReportData:
    """Count every indicator for `year` and the `compare` years before it; audit the reads."""
    years = list(range(year - compare, year + 1))
    data = ReportData(
        year=year,
        years=years,
        generated_at=now or datetime.now(ZoneInfo(timezone)),
        timezone=timezone,
    )
    data.patrols, data.patrol_years = patrol_indicators(session, years=years, tz=timezone)
    data.contacts, data.contact_years = contact_indicators(session, years=years, tz=timezone)
    data.referrals = referral_indicators(session, years=years, tz=timezone)
    data.sos_bus, data.sos_years = sos_bus_indicators(session, years=years)
    data.sites = site_indicators(session)
    data.monthly_patrols, data.monthly_contacts, data.monthly_sos = monthly_indicators(
        session, year=year, tz=timezone
    )
    data.demo_rows = _demo_rows(session, years=years, tz=timezone)
    # Aggregates only, but they are read from site, visit and patrol data: audit each layer.
    for layer in ("visits", "sleeping_sites", "patrols"):
        audit.record(
            session,
            actor=actor,
            role=role,
            action="report",
            layer=layer,
            detail={"report": "yearly_indicators", "year": year, "years": years},
        )
    return data


def _number(value: object) -> Number:
    as_float = float(value)  # type: ignore[arg-type]
    return int(as_float) if as_float.is_integer() else round(as_float, 2)


# -- the tables (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    code: str
    label: str
    values: tuple[Number | None, ...]  # None: no data for that column
    total: bool = False


@dataclass(frozen=True)
class ReportTable:
    key: str  # file stem of its CSV
    title: str
    header: tuple[str, ...]  # the label column's heading, then one per value column
    rows: tuple[Row, ...]
    note: str = ""

    def value(self, code: str, column: str) -> Number | None:
        """The value of row `code` in the column headed `column` (e.g. "2025")."""
        index = self.header.index(column) - 1
        for row in self.rows:
            if row.code == code:
                return row.values[index]
        msg = f"table {self.key} has no row {code!r}"
        raise KeyError(msg)


# Report texts by code (row codes, measures, table keys); the values are the Polish texts, the
# catalogue's msgids (geo_outreach.core.i18n).
TEXT: dict[str, str] = {
    "indicator": N_("wskaźnik"),
    "total": N_("razem"),
    "patrols": N_("patrole"),
    "hours": N_("godziny"),
    "people_met": N_("osoby spotkane (kontakty)"),
    "t_patrols": N_("Patrole i dyżury według rodzaju"),
    "n_patrols": N_(
        "Patrole odbyte (status: zakończony lub w trakcie), według daty rozpoczęcia. Godziny "
        "= suma (planowany koniec − planowany początek). Osoby spotkane według daty wizyty."
    ),
    "t_contacts": N_("Kontakty i pomoc"),
    "n_contacts": N_(
        "Ze wszystkich wizyt w roku (także bez patrolu). Interwencje na prośbę służb = wizyty "
        "tak oznaczone."
    ),
    "visits": N_("wizyty w miejscach"),
    "women_met": N_("w tym kobiety"),
    "people_aided": N_("udzielona pomoc przedmedyczna (osoby)"),
    "on_request_of_services": N_("interwencje na prośbę służb"),
    "people_referred": N_("osoby skierowane do placówek"),
    "t_referrals": N_("Osoby skierowane według rodzaju placówki"),
    UNSPECIFIED: N_("rodzaj nie podany"),
    "t_sos_bus": N_("Autobus SOS"),
    "n_sos_bus": N_("Z dziennika dyżurów autobusu (jeden wpis = jeden wieczór)."),
    "duties": N_("dyżury"),
    "uses": N_("skorzystania z autobusu"),
    "meals": N_("wydane posiłki"),
    "clothes": N_("wydana odzież"),
    "rides_to_warming_centre": N_("przewozy do ogrzewalni"),
    "t_sites": N_("Miejsca niemieszkalne według kategorii i statusu"),
    "n_sites": N_(
        "Stan rejestru w dniu sporządzenia sprawozdania; kategorie miejsc z ogólnopolskiego "
        "badania liczby osób bezdomnych."
    ),
    "category": N_("kategoria"),
    "month": N_("miesiąc"),
    "t_monthly_patrols": N_("Patrole w miesiącach według rodzaju"),
    "t_monthly_contacts": N_("Osoby spotkane w miesiącach według rodzaju patrolu"),
    NO_PATROL: N_("bez patrolu"),
    "t_monthly_sos": N_("Autobus SOS w miesiącach"),
}

MONTHS = (
    N_("sty"),
    N_("lut"),
    N_("mar"),
    N_("kwi"),
    N_("maj"),
    N_("cze"),
    N_("lip"),
    N_("sie"),
    N_("wrz"),
    N_("paź"),
    N_("lis"),
    N_("gru"),
)  # abbreviated, January first


def t(key: str, lang: Lang) -> str:
    """The report text of a code in `lang`."""
    return translator(lang).gettext(TEXT[key])


def months(lang: Lang) -> list[str]:
    """The twelve month abbreviations in `lang`."""
    return [translator(lang).gettext(m) for m in MONTHS]


def _kind_label(kind: str, lang: Lang) -> str:
    return label(PATROL_KINDS, kind, lang) if kind in PATROL_KINDS else t(kind, lang)


def _by_year(series: Series, years: list[int], present: set[int]) -> tuple[Number | None, ...]:
    # A year with no data at all in the source shows "–"; otherwise a missing value is 0.
    return tuple(series.get(y, 0) if y in present else None for y in years)


def _sum_rows(rows: list[Row]) -> tuple[Number | None, ...]:
    out: list[Number | None] = []
    for column in zip(*(r.values for r in rows), strict=True):
        known = [v for v in column if v is not None]
        out.append(_number(sum(known)) if known else None)
    return tuple(out)


def _ordered(codes: set[str], vocab: Labels, *extra: str) -> list[str]:
    return [c for c in (*vocab, *extra) if c in codes]


def build_tables(data: ReportData, *, lang: Lang = "pl") -> list[ReportTable]:
    """The report's tables in `lang`, years as columns (oldest first)."""
    years = data.years
    year_header = (t("indicator", lang), *(str(y) for y in years))
    tables: list[ReportTable] = []

    # Patrols by kind: count, hours, people met.
    patrol_rows: list[Row] = []
    kinds = _ordered({k for k, _ in data.patrols}, PATROL_KINDS)
    for kind in kinds:
        for measure in ("patrols", "hours", "people_met"):
            patrol_rows.append(
                Row(
                    code=f"{kind}.{measure}",
                    label=f"{_kind_label(kind, lang)} — {t(measure, lang)}",
                    values=_by_year(
                        data.patrols.get((kind, measure), {}), years, data.patrol_years
                    ),
                )
            )
    for measure in ("patrols", "hours"):
        patrol_rows.append(
            Row(
                code=f"total.{measure}",
                label=f"{t('total', lang)} — {t(measure, lang)}",
                values=_sum_rows([r for r in patrol_rows if r.code.endswith(f".{measure}")])
                if patrol_rows
                else tuple(None for _ in years),
                total=True,
            )
        )
    tables.append(
        ReportTable(
            key="01_patrols",
            title=t("t_patrols", lang),
            header=year_header,
            rows=tuple(patrol_rows),
            note=t("n_patrols", lang),
        )
    )

    def measures(key: str, name: str, found: Any, measured: Any, codes: Any) -> ReportTable:
        """One row per measure, one column per year (“–” for years with no log)."""
        return ReportTable(
            key=key,
            title=t(f"t_{name}", lang),
            header=year_header,
            rows=tuple(
                Row(code=m, label=t(m, lang), values=_by_year(found.get(m, {}), years, measured))
                for m in codes
            ),
            note=t(f"n_{name}", lang),
        )

    tables.append(
        measures("02_contacts", "contacts", data.contacts, data.contact_years, CONTACT_MEASURES)
    )

    referral_rows = [
        Row(
            code=code,
            label=label(FACILITY_TYPES, code, lang) if code in FACILITY_TYPES else t(code, lang),
            values=_by_year(data.referrals[code], years, data.contact_years),
        )
        for code in _ordered(set(data.referrals), FACILITY_TYPES, UNSPECIFIED)
    ]
    referral_rows.append(
        Row(
            code="total",
            label=t("total", lang),
            values=_by_year(data.contacts.get("people_referred", {}), years, data.contact_years),
            total=True,
        )
    )
    tables.append(
        ReportTable(
            key="03_referrals",
            title=t("t_referrals", lang),
            header=year_header,
            rows=tuple(referral_rows),
        )
    )

    tables.append(measures("04_sos_bus", "sos_bus", data.sos_bus, data.sos_years, SOS_MEASURES))

    tables.append(_sites_table(data, lang))
    tables.extend(_monthly_tables(data, lang))
    return tables


def _sites_table(data: ReportData, lang: Lang) -> ReportTable:
    statuses = list(SITE_STATUSES)
    rows: list[Row] = []
    for category in _ordered(set(data.sites), SITE_CATEGORIES):
        counts = [data.sites[category].get(s, 0) for s in statuses]
        rows.append(
            Row(
                code=category,
                label=label(SITE_CATEGORIES, category, lang),
                values=(*counts, sum(counts)),
            )
        )
    totals = _sum_rows(rows) if rows else tuple(0 for _ in range(len(statuses) + 1))
    rows.append(Row(code="total", label=t("total", lang), values=totals, total=True))
    return ReportTable(
        key="05_sites",
        title=t("t_sites", lang),
        header=(
            t("category", lang),
            *(label(SITE_STATUSES, s, lang) for s in statuses),
            t("total", lang),
        ),
        rows=tuple(rows),
        note=t("n_sites", lang),
    )


def _monthly_tables(data: ReportData, lang: Lang) -> list[ReportTable]:
    header = (t("month", lang), *months(lang), t("total", lang))

    def table(
        key: str, series: dict[str, list[int]], labels: dict[str, str], *, total: bool = True
    ) -> ReportTable:
        rows = [
            Row(code=code, label=labels[code], values=(*series[code], sum(series[code])))
            for code in labels
            if code in series
        ]
        if rows and total:
            rows.append(
                Row(code="total", label=t("total", lang), values=_sum_rows(rows), total=True)
            )
        return ReportTable(
            key=key,
            title=f"{t('t_' + key[3:], lang)} — {data.year}",
            header=header,
            rows=tuple(rows),
        )

    kinds = {k: _kind_label(k, lang) for k in (*PATROL_KINDS, NO_PATROL)}
    sos = {m: t(m, lang) for m in data.monthly_sos}
    return [
        table("06_monthly_patrols", data.monthly_patrols, kinds),
        table("07_monthly_contacts", data.monthly_contacts, kinds),
        # Duties, uses and meals are different things: no grand total row.
        table("08_monthly_sos", data.monthly_sos, sos, total=False),
    ]


# -- count night (national homelessness count) -------------------------------------------------

# The night of the count: from the evening of the date to the next morning, local time.
NIGHT_FROM = time(18, 0)
NIGHT_TO = time(8, 0)


@dataclass(frozen=True)
class CountNightRow:
    """One place category of the national count; aggregates only, no site is named or placed."""

    category: str
    sites_with_people: int
    people: int
    people_from_visits: int  # the most people met at a site during that night
    people_from_estimates: int  # estimated_people of active sites not visited that night
    sites_visited: int
    sites_estimated: int


@dataclass(frozen=True)
class CountNight:
    night: date
    start: datetime
    end: datetime
    rows: list[CountNightRow]

    @property
    def total(self) -> CountNightRow:
        def s(name: str) -> int:
            return sum(getattr(r, name) for r in self.rows)

        return CountNightRow(
            category="total",
            sites_with_people=s("sites_with_people"),
            people=s("people"),
            people_from_visits=s("people_from_visits"),
            people_from_estimates=s("people_from_estimates"),
            sites_visited=s("sites_visited"),
            sites_estimated=s("sites_estimated"),
        )


def parse_night(value: str, *, today: date | None = None) -> date:
    """The count night's evening: YYYY-MM-DD, from 2000 up to tomorrow."""
    try:
        night = date.fromisoformat(value)
    except ValueError:
        msg = f"'{value}' is not a date; use YYYY-MM-DD"
        raise invalid("night", msg) from None
    last = (today or date.today()) + timedelta(days=1)
    if not date(MIN_YEAR, 1, 1) <= night <= last:
        msg = f"{night} is out of range; use {MIN_YEAR}-01-01 to {last}"
        raise invalid("night", msg)
    return night


def count_night(
    session: Session,
    *,
    night: date,
    actor: str,
    role: str,
    timezone: str = "Europe/Warsaw",
) -> CountNight:
    """Sites with people and people, per count category, for the night starting on `night`.

    A site visited that night counts the most people met at one visit (a later patrol may find
    the same people again); a site not visited counts its estimated_people if it was active.
    A site's status is the last one recorded before the night ended, or its current status if
    none was recorded by then (it was entered in the register later).
    """
    zone = ZoneInfo(timezone)
    start = datetime.combine(night, NIGHT_FROM, zone)
    end = datetime.combine(night + timedelta(days=1), NIGHT_TO, zone)
    found = session.execute(
        text(
            """
            WITH visited AS (
                SELECT v.site_id, max(v.people_met) AS people
                FROM visits v
                WHERE v.site_id IS NOT NULL AND v.visited_at >= :start AND v.visited_at < :end
                GROUP BY v.site_id
            ),
            site_then AS (
                SELECT s.id, s.category, s.estimated_people,
                       coalesce((SELECT h.status FROM site_status_history h
                                 WHERE h.site_id = s.id AND h.changed_at < :end
                                 ORDER BY h.changed_at DESC, h.id DESC LIMIT 1),
                                s.status) AS status
                FROM sleeping_sites s
            ),
            counted AS (
                SELECT t.category,
                       vi.site_id IS NOT NULL AS visited,
                       CASE WHEN vi.site_id IS NOT NULL THEN vi.people
                            WHEN t.status = 'active' THEN t.estimated_people
                            ELSE 0 END AS people
                FROM site_then t LEFT JOIN visited vi ON vi.site_id = t.id
            )
            SELECT category,
                   count(*) FILTER (WHERE people > 0) AS sites_with_people,
                   coalesce(sum(people), 0) AS people,
                   coalesce(sum(people) FILTER (WHERE visited), 0) AS people_from_visits,
                   coalesce(sum(people) FILTER (WHERE NOT visited), 0) AS people_from_estimates,
                   count(*) FILTER (WHERE visited) AS sites_visited,
                   count(*) FILTER (WHERE NOT visited AND people > 0) AS sites_estimated
            FROM counted
            GROUP BY category
            """
        ),
        {"start": start, "end": end},
    ).all()
    by_category = {row.category: row for row in found}
    rows = []
    for category in SITE_CATEGORIES:
        row = by_category.get(category)
        rows.append(
            CountNightRow(
                category=category,
                sites_with_people=int(row.sites_with_people) if row else 0,
                people=int(row.people) if row else 0,
                people_from_visits=int(row.people_from_visits) if row else 0,
                people_from_estimates=int(row.people_from_estimates) if row else 0,
                sites_visited=int(row.sites_visited) if row else 0,
                sites_estimated=int(row.sites_estimated) if row else 0,
            )
        )
    for layer in ("sleeping_sites", "visits"):
        audit.record(
            session,
            actor=actor,
            role=role,
            action="report",
            layer=layer,
            detail={"report": "count_night", "night": night.isoformat()},
        )
    return CountNight(night=night, start=start, end=end, rows=rows)
