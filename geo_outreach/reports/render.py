"""Writers for the yearly report: CSV per table, PNG charts, Markdown and a self-contained HTML
page whose charts are linked relative to it.

Charts use matplotlib's Agg canvas through `Figure` (no pyplot state, no display, no network).
"""

from __future__ import annotations

import base64
import csv
import html
import tempfile
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from geo_outreach.core.i18n import translator
from geo_outreach.core.privacy import suppress_table
from geo_outreach.core.vocab import (
    OSM_ATTRIBUTION,
    PATROL_KINDS,
    SITE_CATEGORIES,
    SITE_STATUSES,
    Lang,
    label,
)
from geo_outreach.reports.partner import PartnerReport
from geo_outreach.reports.tables import (
    NO_PATROL,
    CountNight,
    Number,
    ReportData,
    ReportTable,
    build_tables,
    months,
    t,
)

NO_DATA = "–"
CHART_DIR = "charts"
TABLE_DIR = "tables"


@dataclass(frozen=True)
class Chart:
    key: str
    path: Path  # relative to the report folder
    title: str


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path
    csv: list[Path]
    charts: list[Path]


def fmt(value: Number | None, lang: Lang) -> str:
    """A number as people read it: Polish/Ukrainian 1 234,5; English 1,234.5."""
    if value is None:
        return NO_DATA
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    if lang == "en":
        return text
    return text.replace(",", "\u00a0").replace(".", ",")


# -- CSV ----------------------------------------------------------------------------------------


def write_csv(table: ReportTable, path: Path) -> None:
    """One table: a `code` column for machines, then the header; empty where there is no data."""
    # utf-8-sig: spreadsheet programs then read the Polish letters right.
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        writer = csv.writer(f)
        writer.writerow(["code", *table.header])
        for row in table.rows:
            writer.writerow([row.code, row.label, *("" if v is None else v for v in row.values)])


# -- charts -------------------------------------------------------------------------------------

COLOURS = ("#1f5f8b", "#e07b39", "#4f9d69", "#b44b70", "#7a6fb0", "#8c8c8c")


def _figure() -> Figure:
    fig = Figure(figsize=(9, 4.8), dpi=100, layout="constrained")
    return fig


def _save(fig: Figure, path: Path) -> None:
    # No timestamp in the PNG, so the same data gives the same file.
    fig.savefig(path, format="png", metadata={"Software": None})


def _stacked_months(
    series: dict[str, list[int]],
    labels: dict[str, str],
    *,
    title: str,
    ylabel: str,
    lang: Lang,
    path: Path,
) -> None:
    fig = _figure()
    ax = fig.add_subplot()
    _ = translator(lang).gettext
    month_names = months(lang)
    bottom = [0] * 12
    shown = [code for code in labels if code in series]
    for n, code in enumerate(shown):
        values = series[code]
        ax.bar(
            month_names, values, bottom=bottom, label=labels[code], color=COLOURS[n % len(COLOURS)]
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    if not shown:
        ax.text(0.5, 0.5, _("brak danych"), ha="center", va="center", transform=ax.transAxes)
    else:
        # Outside the axes: the busiest months would hide under a legend drawn inside.
        fig.legend(loc="outside right upper", fontsize=8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def render_charts(data: ReportData, folder: Path, *, lang: Lang) -> list[Chart]:
    """The four charts of the report, written as PNG into `folder`."""
    _ = translator(lang).gettext
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {k: label(PATROL_KINDS, k, lang) for k in PATROL_KINDS}
    kinds[NO_PATROL] = _("bez patrolu")
    charts: list[Chart] = []

    title = _("Patrole w miesiącach") + f" — {data.year}"
    path = folder / "patrols_monthly.png"
    _stacked_months(
        data.monthly_patrols, kinds, title=title, ylabel=_("liczba patroli"), lang=lang, path=path
    )
    charts.append(Chart("patrols_monthly", path, title))

    title = _("Osoby spotkane w miesiącach, według rodzaju patrolu") + f" — {data.year}"
    path = folder / "contacts_monthly.png"
    _stacked_months(
        data.monthly_contacts, kinds, title=title, ylabel=_("osoby"), lang=lang, path=path
    )
    charts.append(Chart("contacts_monthly", path, title))

    title = _("Miejsca niemieszkalne według kategorii i statusu")
    path = folder / "sites_by_category_status.png"
    _sites_chart(data, title=title, lang=lang, path=path)
    charts.append(Chart("sites_by_category_status", path, title))

    title = _("Autobus SOS: skorzystania w miesiącach") + f" — {data.year}"
    path = folder / "sos_bus_monthly.png"
    _sos_chart(data, title=title, lang=lang, path=path)
    charts.append(Chart("sos_bus_monthly", path, title))
    return charts


def _sites_chart(data: ReportData, *, title: str, lang: Lang, path: Path) -> None:
    _ = translator(lang).gettext
    fig = _figure()
    ax = fig.add_subplot()
    categories = [c for c in SITE_CATEGORIES if c in data.sites]
    names = [label(SITE_CATEGORIES, c, lang) for c in categories]
    left = [0] * len(categories)
    for n, status in enumerate(SITE_STATUSES):
        values = [data.sites[c].get(status, 0) for c in categories]
        ax.barh(
            names,
            values,
            left=left,
            label=label(SITE_STATUSES, status, lang),
            color=COLOURS[n % len(COLOURS)],
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    if categories:
        ax.legend(loc="lower right", fontsize=8)
        ax.invert_yaxis()  # the count's own order, top to bottom
    else:
        ax.text(0.5, 0.5, _("brak danych"), ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_xlabel(_("liczba miejsc"))
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def _sos_chart(data: ReportData, *, title: str, lang: Lang, path: Path) -> None:
    fig = _figure()
    ax = fig.add_subplot()
    _ = translator(lang).gettext
    month_names = months(lang)
    uses = data.monthly_sos.get("uses", [0] * 12)
    meals = data.monthly_sos.get("meals", [0] * 12)
    ax.bar(month_names, uses, color=COLOURS[0], label=_("skorzystania"))
    ax.plot(month_names, meals, color=COLOURS[1], marker="o", label=_("posiłki"))
    if not any(uses) and not any(meals):
        ax.text(0.5, 0.5, _("brak danych"), ha="center", va="center", transform=ax.transAxes)
    ax.legend(loc="upper center", fontsize=8)
    ax.set_title(title)
    ax.set_ylabel(_("liczba"))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


# -- documents (pure) ---------------------------------------------------------------------------


def _intro(data: ReportData, lang: Lang) -> list[str]:
    _ = translator(lang).gettext
    lines = [_("rok") + f": {data.year}"]
    if len(data.years) > 1:
        earlier = ", ".join(str(y) for y in data.years[:-1])
        lines.append(_("porównanie z latami") + f": {earlier}")
    lines.append(_("sporządzono") + f": {data.generated_at:%Y-%m-%d %H:%M} ({data.timezone})")
    lines += [
        _("Godziny patroli = suma (planowany koniec − planowany początek) patroli odbytych."),
        _("„–” oznacza brak danych za dany rok."),
        _(
            "Dokument wewnętrzny: wyłącznie zestawienia zbiorcze, bez nazw, kodów, położenia "
            "miejsc ani notatek. Liczby przekazywane partnerom lub publikowane muszą przejść "
            "ukrywanie małych liczebności (1–9)."
        ),
    ]
    if data.demo_rows:
        demo = _("Zawiera dane demonstracyjne (miejsca wygenerowane z obiektów OpenStreetMap).")
        lines.append(f"{demo} {OSM_ATTRIBUTION}")
    return lines


def markdown(
    data: ReportData, tables: list[ReportTable], charts: list[Chart], *, lang: Lang
) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    _ = translator(lang).gettext

    out = ["# " + _("Wskaźniki programu przeciwdziałania bezdomności") + f" — {data.year}", ""]
    out += [f"- {cell(line)}" for line in _intro(data, lang)]
    out += ["", "## " + _("Tabele"), ""]
    for table in tables:
        out += [f"### {table.title}", ""]
        out.append("| " + " | ".join(cell(h) for h in table.header) + " |")
        out.append("|" + "---|" + "---:|" * (len(table.header) - 1))
        for row in table.rows:
            name = f"**{cell(row.label)}**" if row.total else cell(row.label)
            out.append("| " + " | ".join([name, *(fmt(v, lang) for v in row.values)]) + " |")
        if table.note:
            out += ["", f"*{cell(table.note)}*"]
        out += [
            "",
            f"CSV: [{TABLE_DIR}/{table.key}.csv]({TABLE_DIR}/{table.key}.csv)",
            "",
        ]
    out += ["## " + _("Wykresy"), ""]
    for chart in charts:
        out += [f"![{cell(chart.title)}]({chart.path.as_posix()})", ""]
    return "\n".join(out)


CSS = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 .25rem}
th,td{border:1px solid #bbb;padding:.25rem .5rem}
tbody th{text-align:left;font-weight:normal}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total,tr.total th{font-weight:bold;background:#f2f2f2}
p.note{font-size:.9em;color:#555;margin:.25rem 0 1.25rem}
figure{margin:1rem 0}img{max-width:100%;height:auto}
"""


def html_page(
    data: ReportData,
    tables: list[ReportTable],
    charts: list[Chart],
    *,
    lang: Lang,
    csv_links: bool = True,
    images: dict[str, str] | None = None,
) -> str:
    """The report page; `images` (chart key → src) replaces the charts' file paths, e.g. with
    data: URIs for a page served on its own, which has no CSV files beside it either."""
    e = html.escape
    _ = translator(lang).gettext
    title = _("Wskaźniki programu przeciwdziałania bezdomności") + f" — {data.year}"
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="robots" content="noindex">',
        f"<title>{e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
        "<ul>",
        *(f"<li>{e(line)}</li>" for line in _intro(data, lang)),
        "</ul>",
        "<h2>" + e(_("Tabele")) + "</h2>",
    ]
    for table in tables:
        parts.append(f'<section id="{e(table.key)}">')
        parts.append(f"<h3>{e(table.title)}</h3>")
        parts.append("<table>")
        parts.append(
            "<thead><tr>"
            + "".join(f'<th scope="col">{e(h)}</th>' for h in table.header)
            + "</tr></thead><tbody>"
        )
        for row in table.rows:
            css = ' class="total"' if row.total else ""
            cells = "".join(f'<td class="n">{e(fmt(v, lang))}</td>' for v in row.values)
            parts.append(f'<tr{css}><th scope="row">{e(row.label)}</th>{cells}</tr>')
        parts.append("</tbody></table>")
        link = f"{TABLE_DIR}/{table.key}.csv"
        note = f"{e(table.note)} " if table.note else ""
        csv_link = f'<a href="{e(link)}">CSV</a>' if csv_links else ""
        if note or csv_link:
            parts.append(f'<p class="note">{note}{csv_link}</p>')
        parts.append("</section>")
    parts.append("<h2>" + e(_("Wykresy")) + "</h2>")
    for chart in charts:
        src = (images or {}).get(chart.key, chart.path.as_posix())
        parts.append(
            f'<figure><img src="{e(src)}" alt="{e(chart.title)}">'
            f"<figcaption>{e(chart.title)}</figcaption></figure>"
        )
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


# -- everything ---------------------------------------------------------------------------------


def write_report(data: ReportData, out_dir: Path, *, lang: Lang = "pl") -> ReportFiles:
    """Write report.html, report.md, tables/*.csv and charts/*.png into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / TABLE_DIR).mkdir(exist_ok=True)
    tables = build_tables(data, lang=lang)
    csv_paths = []
    for table in tables:
        path = out_dir / TABLE_DIR / f"{table.key}.csv"
        write_csv(table, path)
        csv_paths.append(path)
    written = render_charts(data, out_dir / CHART_DIR, lang=lang)
    # Documents refer to charts relative to themselves, so the folder can be moved as a whole.
    charts = [Chart(c.key, c.path.relative_to(out_dir), c.title) for c in written]
    html_path = out_dir / "report.html"
    html_path.write_text(html_page(data, tables, charts, lang=lang), encoding="utf-8")
    md_path = out_dir / "report.md"
    md_path.write_text(markdown(data, tables, charts, lang=lang), encoding="utf-8")
    return ReportFiles(
        html=html_path,
        markdown=md_path,
        csv=csv_paths,
        charts=[c.path for c in written],
    )


def report_page(data: ReportData, *, lang: Lang = "pl") -> str:
    """The internal report as one self-contained page (charts inline), as the API serves it."""
    tables = build_tables(data, lang=lang)
    with tempfile.TemporaryDirectory() as tmp:
        charts = render_charts(data, Path(tmp), lang=lang)
        images = {
            c.key: "data:image/png;base64," + base64.b64encode(c.path.read_bytes()).decode()
            for c in charts
        }
    return html_page(data, tables, charts, lang=lang, csv_links=False, images=images)


def partner_page(report: PartnerReport, *, lang: Lang = "pl") -> str:
    """The partner report page: suppressed cells shown as "x", with the rules stated."""
    e = html.escape
    _ = translator(lang).gettext
    title = _("Wskaźniki programu przeciwdziałania bezdomności") + f" — {report.year}"
    # Districts or coarser, quarters or longer; 1–9 and the cells they could be derived
    # from are shown as "x" (a sentence saying so waits for its catalogue entry).
    rules = _("dla partnerów (dane zagregowane)")
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="robots" content="noindex">',
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p>{e(rules)}</p>",
    ]
    for part in report.tables:
        table = part.table
        prefix = t("t_sos_bus", lang) + " — " if part.key.startswith("sos_bus.") else ""
        caption = prefix + t(part.measure, lang)
        total = t("total", lang)

        def cell(value: int | None) -> str:
            return f'<td class="n">{SUPPRESSED if value is None else e(fmt(value, lang))}</td>'

        corner = {"district": _("dzielnica"), "city": _("miasto")}.get(
            part.row_kind, t("t_sos_bus", lang)
        )
        head = "".join(f'<th scope="col">{e(c)}</th>' for c in (corner, *table.columns, total))
        body = "".join(
            f'<tr><th scope="row">{e(name)}</th>'
            + "".join(cell(v) for v in (*row, row_total))
            + "</tr>"
            for name, row, row_total in zip(table.rows, table.cells, table.row_totals, strict=True)
        )
        totals = "".join(cell(v) for v in (*table.column_totals, table.grand_total))
        parts.append(
            f'<section id="{e(part.key)}"><h2>{e(caption)}</h2><table>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}"
            f'<tr class="total"><th scope="row">{e(total)}</th>{totals}</tr>'
            "</tbody></table></section>"
        )
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


COUNT_NIGHT_COLUMNS = (
    "category",
    "category_label",
    "sites_with_people",
    "people",
    "people_from_visits",
    "people_from_estimates",
    "sites_visited",
    "sites_estimated",
    "night_start",
    "night_end",
)
# For partners: the visit/estimate split of sites is left out (it would link the two tables).
PUBLIC_COUNT_NIGHT_COLUMNS = tuple(
    c for c in COUNT_NIGHT_COLUMNS if c not in ("sites_visited", "sites_estimated")
)
SUPPRESSED = "x"  # a cell hidden by the disclosure rules (geo_outreach.privacy)

Cell = int | str


def count_night_rows(
    result: CountNight, *, lang: Lang = "pl", public: bool = False
) -> list[list[Cell]]:
    """The count-night table, header first. `public`: small counts suppressed (privacy rules):
    people by source × category with their totals as one table, sites with people as another."""
    start, end = result.start.isoformat(), result.end.isoformat()
    rows = [*result.rows, result.total]
    names = [
        label(SITE_CATEGORIES, r.category, lang)
        if r.category in SITE_CATEGORIES
        else t("total", lang)
        for r in rows
    ]
    if not public:
        body: list[list[Cell]] = [
            [
                r.category,
                name,
                r.sites_with_people,
                r.people,
                r.people_from_visits,
                r.people_from_estimates,
                r.sites_visited,
                r.sites_estimated,
                start,
                end,
            ]
            for r, name in zip(rows, names, strict=True)
        ]
        return [list(COUNT_NIGHT_COLUMNS), *body]
    people = suppress_table(
        {
            r.category: {"visits": r.people_from_visits, "estimates": r.people_from_estimates}
            for r in result.rows
        }
    ).grid()
    sites = suppress_table(
        {r.category: {"sites": r.sites_with_people} for r in result.rows}, row_totals=False
    ).grid()

    def shown(value: int | None) -> Cell:
        return SUPPRESSED if value is None else value

    body = [
        [
            r.category,
            name,
            shown(site_row[0]),
            shown(people_row[2]),
            shown(people_row[0]),
            shown(people_row[1]),
            start,
            end,
        ]
        for r, name, people_row, site_row in zip(rows, names, people, sites, strict=True)
    ]
    return [list(PUBLIC_COUNT_NIGHT_COLUMNS), *body]


def write_count_night(
    result: CountNight, path: Path, *, lang: Lang = "pl", public: bool = False
) -> None:
    """The count-night CSV: one row per count category and a total; no site, no position."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f).writerows(count_night_rows(result, lang=lang, public=public))
