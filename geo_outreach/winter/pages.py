"""The reporter's status page: the reference code and the status, nothing else (no position, no
description, no decision), in the reporter's language."""

from __future__ import annotations

from html import escape

from geo_outreach.core.i18n import Lang, translator
from geo_outreach.winter.alerts import STATUS_LABELS

STYLESHEET = "../alert-form.css"  # served beside /public/alerts/ (api/routes/alerts.py)
# The page runs no script and loads nothing but its own stylesheet.
STATUS_CSP = (
    "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def status_label(status: str, lang: Lang) -> str:
    return translator(lang).gettext(STATUS_LABELS[status])


def status_page(ref: str, status: str, *, lang: Lang) -> str:
    _ = translator(lang).gettext
    title, number, state = _("Status zgłoszenia"), _("Numer zgłoszenia"), _("Stan")
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} {escape(ref)}</title>"
        # An empty icon: the browser asks for /favicon.ico otherwise (a 404 in its console).
        f'<link rel="icon" href="data:,"><link rel="stylesheet" href="{STYLESHEET}"></head>'
        f'<body><main class="go-status"><h1>{escape(title)}</h1><dl>'
        f"<dt>{escape(number)}</dt><dd>{escape(ref)}</dd>"
        f'<dt>{escape(state)}</dt><dd id="go-status" data-status="{escape(status)}">'
        f"{escape(status_label(status, lang))}</dd></dl></main></body></html>\n"
    )
