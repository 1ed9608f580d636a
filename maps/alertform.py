"""The public alert form beside the public map (issue 14): tell the outreach team where someone
may be freezing.

Static markup: the page never holds an alert, so adding alerts changes no public page. The
form posts to the API (`../public/alerts`, relative to /maps/) from `alert-form.js`, a file
served from the page's own assets (no inline code, nothing from another host). Where: a pin on
the map, the phone's position (only if the person allows it), or an address as typed. It asks
for no name and takes no photo. The texts the script shows are data attributes, translated
here like the rest of the page.
"""

from __future__ import annotations

from geo_outreach.core.i18n import translator
from geo_outreach.core.vocab import Lang
from maps import assets
from maps.escape import escape

ALERT_JS = assets.register("alert-form.js")  # in maps/static/
ALERT_CSS = assets.register("alert-form.css")
ENDPOINT = "../public/alerts"  # the page is served at /maps/public*.html


def form_html(lang: Lang) -> str:
    """The form's section of the public page's list."""
    _ = translator(lang).gettext
    messages = {
        "sent": _("Zgłoszenie wysłane. Twój numer zgłoszenia:"),
        "status": _("Sprawdź status zgłoszenia"),
        "error": _("Nie udało się wysłać zgłoszenia:"),
        "limit": _("Za dużo zgłoszeń z tego adresu. Spróbuj ponownie za chwilę."),
        "offline": _("Brak połączenia. Zadzwoń pod 986 lub 112."),
        "pin": _("Miejsce wskazane na mapie."),
        "pinmode": _("Dotknij mapy w miejscu, gdzie jest osoba."),
        "device": _("Użyto położenia Twojego telefonu."),
        "device-error": _(
            "Nie udało się ustalić położenia. Wskaż miejsce na mapie lub wpisz adres."
        ),
        "where": _("Wskaż miejsce na mapie, użyj położenia telefonu lub wpisz adres."),
        "none": _("Nie wskazano miejsca."),
    }
    data = " ".join(f'data-msg-{k}="{escape(v)}"' for k, v in messages.items())
    title = _("Zgłoś osobę, która może marznąć")
    intro = _(
        "Gdy życie jest zagrożone, dzwoń 112. Ten formularz powiadamia zespół pomocy"
        " o miejscu, w którym ktoś może potrzebować pomocy."
    )
    privacy = _("Nie podawaj imienia ani nazwiska tej osoby i nie rób jej zdjęć.")
    where, when, what = _("Gdzie?"), _("Kiedy?"), _("Co widzisz?")
    pin, device = _("Wskaż na mapie"), _("Użyj położenia telefonu")
    address = _("Adres lub opis miejsca")
    what_hint = _("Na przykład: osoba leży na ławce i nie reaguje, jest lekko ubrana.")
    contact = _("Twój kontakt (nieobowiązkowy)")
    contact_hint = _("Telefon lub e-mail, jeśli zespół może do Ciebie oddzwonić.")
    trap = _("Nie wypełniaj tego pola")
    send = _("Wyślij zgłoszenie")
    return (
        f'<section aria-labelledby="go-h-alert" class="go-alert" id="go-alert-section">'
        f'<h2 id="go-h-alert">{escape(title)}</h2>'
        f"<p>{escape(intro)}</p><p><strong>{escape(privacy)}</strong></p>"
        f'<form id="go-alert" action="{ENDPOINT}" method="post" lang="{lang}" '
        f'data-lang="{lang}" {data}>'
        f"<fieldset><legend>{escape(where)}</legend>"
        f'<div class="go-alert-buttons">'
        f'<button type="button" id="go-alert-pin" aria-pressed="false">{escape(pin)}</button>'
        f'<button type="button" id="go-alert-device">{escape(device)}</button></div>'
        f'<p id="go-alert-where" class="go-alert-where" aria-live="polite">'
        f"{escape(messages['none'])}</p>"
        f'<label for="go-alert-address">{escape(address)}</label>'
        f'<input id="go-alert-address" name="address" type="text" maxlength="300" '
        f'autocomplete="street-address"></fieldset>'
        f'<label for="go-alert-when">{escape(when)}</label>'
        f'<input id="go-alert-when" name="seen_at" type="datetime-local">'
        f'<label for="go-alert-what">{escape(what)}</label>'
        f'<p id="go-alert-what-hint" class="go-alert-hint">{escape(what_hint)}</p>'
        f'<textarea id="go-alert-what" name="description" required minlength="3" '
        f'maxlength="1000" rows="3" aria-describedby="go-alert-what-hint"></textarea>'
        f'<label for="go-alert-contact">{escape(contact)}</label>'
        f'<p id="go-alert-contact-hint" class="go-alert-hint">{escape(contact_hint)}</p>'
        f'<input id="go-alert-contact" name="contact" type="text" maxlength="200" '
        f'autocomplete="tel" aria-describedby="go-alert-contact-hint">'
        # A field people never see or reach: a bot that fills it in is answered, not stored.
        f'<div class="go-alert-trap" aria-hidden="true"><label for="go-alert-website">'
        f'{escape(trap)}</label><input id="go-alert-website" name="website" type="text" '
        f'tabindex="-1" autocomplete="off"></div>'
        f'<button type="submit" class="go-alert-send">{escape(send)}</button>'
        f'<div id="go-alert-result" role="status" aria-live="polite"></div>'
        "</form></section>"
    )
