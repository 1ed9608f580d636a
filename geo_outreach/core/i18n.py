"""The one translation catalogue: every text people read on maps, reports and route sheets.

Polish is the source language: a msgid is the Polish text itself, and the catalogues
`locale/{pl,en,uk}/LC_MESSAGES/geo_outreach.po` give it in each language (Polish too, for its
three plural forms). Code marks a text with `_(...)` (`_ = translator(lang).gettext`), or with
`N_(...)` where it is stored first and translated later (vocabulary labels).

The .po files are compiled in memory at first use (Babel's reader and .mo writer, then Python's
gettext): there is no .mo file to build, to ship or to let go stale, so a clean clone, an
editable install and a wheel all translate the same way.

After changing texts in the code (the Babel settings are in pyproject.toml):

    .venv/bin/pybabel extract        # the code → locale/geo_outreach.pot
    .venv/bin/pybabel update         # the .pot → the three .po files; then translate new entries

A text missing from a catalogue falls back to Polish with a `MissingTranslation` warning; the
test settings turn that warning into an error, so an untranslated text fails the tests.
"""

from __future__ import annotations

import gettext
import warnings
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

Lang = Literal["pl", "en", "uk"]
LANGS: tuple[Lang, ...] = ("pl", "en", "uk")
DOMAIN = "geo_outreach"
LOCALE_DIR = Path(__file__).with_name("locale")


class MissingTranslation(UserWarning):
    """A text asked for is not in the catalogue (an error under the tests)."""


def N_(msgid: str) -> str:
    """Marks a Polish text for the catalogue where it is translated later, by `translator`."""
    return msgid


class _Loud(gettext.NullTranslations):
    """The last fallback: says which text is missing, then shows the Polish source."""

    def __init__(self, lang: Lang) -> None:
        super().__init__()
        self.lang = lang

    def _missing(self, msgid: str, context: str | None = None) -> None:
        where = f" (context {context!r})" if context else ""
        msg = f"{self.lang}: no translation of {msgid!r}{where} in {DOMAIN}.po"
        warnings.warn(msg, MissingTranslation, stacklevel=4)

    def gettext(self, message: str) -> str:
        self._missing(message)
        return message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        self._missing(msgid1)
        return msgid1 if n == 1 else msgid2

    def pgettext(self, context: str, message: str) -> str:
        self._missing(message, context)
        return message

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        self._missing(msgid1, context)
        return msgid1 if n == 1 else msgid2


def catalogue_path(lang: Lang) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translator(lang: Lang) -> gettext.GNUTranslations:
    """gettext / ngettext / pgettext / npgettext for `lang` (pl | en | uk)."""
    if lang not in LANGS:
        msg = f"lang: '{lang}' is not supported; use one of {', '.join(LANGS)}"
        raise ValueError(msg)
    with catalogue_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: they count as untranslated
    compiled.seek(0)
    translations = gettext.GNUTranslations(compiled)
    translations.add_fallback(_Loud(lang))
    return translations
