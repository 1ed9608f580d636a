"""The yearly report as JSON and as a page, internal or for partners.

Internal: the indicator tables (geo_outreach.reports.tables), for coordinators and admins.
Partner: districts or coarser × quarters, small counts suppressed (geo_outreach.core.privacy),
also for the partner role. Each read of visit data is audited by the report functions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import Ctx, ReadCtx, read_guard
from geo_outreach.core import policy
from geo_outreach.core.vocab import Lang
from geo_outreach.reports import partner, render, tables

router = APIRouter(tags=["reports"])

Audience = Literal["internal", "partner"]
# No script at all; inline styles and chart images; framed only by our own console.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",
    "Cache-Control": "no-store",
}


def _checked(ctx: Ctx, *, year: int, audience: Audience, lang: str) -> Lang:
    """The language; a partner asking for the internal figures is refused (403)."""
    if audience == "internal":
        policy.require(ctx.principal, "reports", "read")
    return tables.validate(year=year, compare=0, lang=lang)


def _internal(ctx: Ctx, year: int) -> tables.ReportData:
    with ctx.tx() as tx:
        return tables.collect(
            tx.session,
            year=year,
            actor=ctx.actor,
            role=ctx.principal.role,
            timezone=ctx.settings.timezone,
        )


def _partner(ctx: Ctx, year: int) -> partner.PartnerReport:
    with ctx.tx() as tx:
        return partner.partner_report(
            tx.session,
            year=year,
            actor=ctx.actor,
            role=ctx.principal.role,
            timezone=ctx.settings.timezone,
        )


def internal_json(data: tables.ReportData, *, lang: Lang) -> dict[str, Any]:
    return {
        "year": data.year,
        "audience": "internal",
        "generated_at": data.generated_at.isoformat(),
        "timezone": data.timezone,
        "tables": [asdict(table) for table in tables.build_tables(data, lang=lang)],
    }


@router.get("/reports/{year}.json")
def report_json(
    year: int,
    ctx: Annotated[ReadCtx, read_guard("partner_reports")],
    audience: Audience = "internal",
    lang: str = "pl",
) -> dict[str, Any]:
    """The yearly report's figures: `internal` (coordinators, admins) or `partner`."""
    code = _checked(ctx, year=year, audience=audience, lang=lang)
    if audience == "partner":
        return partner.report_json(_partner(ctx, year), lang=code)
    return internal_json(_internal(ctx, year), lang=code)


@router.get("/reports/{year}.html", response_class=HTMLResponse)
def report_html(
    year: int,
    ctx: Annotated[ReadCtx, read_guard("partner_reports")],
    audience: Audience = "internal",
    lang: str = "pl",
) -> HTMLResponse:
    """The yearly report page (charts inline); the console may frame it."""
    code = _checked(ctx, year=year, audience=audience, lang=lang)
    if audience == "partner":
        page = render.partner_page(_partner(ctx, year), lang=code)
    else:
        page = render.report_page(_internal(ctx, year), lang=code)
    return HTMLResponse(page, headers=PAGE_HEADERS)
