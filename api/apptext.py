"""Every text of the field app (/app/): Polish msgids of the project's one translation catalogue
(geo_outreach/core/i18n.py; `pybabel extract` reads this file). The login page is filled from
them on the server; the app's script fills elements marked data-t="key" from /app/text/{lang}.json,
so the texts the browser shows are in the catalogue too."""

from __future__ import annotations

from geo_outreach.core.i18n import LANGS, N_, Lang, translator

__all__ = ["LANGS", "TEXT", "texts"]

TEXT: dict[str, str] = {
    "app_title": N_("Streetworking – teren"),
    "login_title": N_("Logowanie"),
    "username": N_("Nazwa konta"),
    "password": N_("Hasło"),
    "log_in": N_("Zaloguj"),
    "login_failed": N_("Błędna nazwa konta lub hasło."),
    "login_limited": N_("Zbyt wiele nieudanych prób. Spróbuj później."),
    "log_out": N_("Wyloguj"),
    "language": N_("Język"),
    "views": N_("Widoki"),
    "tab_map": N_("Mapa"),
    "tab_list": N_("Miejsca"),
    "tab_route": N_("Moja trasa"),
    "tab_review": N_("Do akceptacji"),
    "pending": N_("Czeka na wysłanie"),
    "last_sync": N_("Ostatnia synchronizacja"),
    "never": N_("nigdy"),
    "send_now": N_("Wyślij teraz"),
    "offline": N_("Brak sieci – zapis lokalny"),
    "search": N_("Szukaj miejsca"),
    "locate": N_("Moje położenie"),
    "open_card": N_("Karta miejsca"),
    "history": N_("Historia wizyt"),
    "history_offline": N_("Historia jest dostępna tylko z siecią."),
    "no_visits": N_("Brak wizyt."),
    "note": N_("Notatka"),
    "log_visit": N_("Zapisz wizytę"),
    "change_site": N_("Zmień miejsce"),
    "add_site": N_("Dodaj miejsce"),
    "save": N_("Zapisz"),
    "cancel": N_("Anuluj"),
    "close": N_("Zamknij"),
    "visited_at": N_("Czas wizyty"),
    "people_met": N_("Spotkane osoby"),
    "women_met": N_("w tym kobiety"),
    "people_aided": N_("Pomoc przedmedyczna (osoby)"),
    "people_referred": N_("Skierowane osoby"),
    "help_given": N_("Udzielona pomoc"),
    "referral_facility_type": N_("Skierowanie do"),
    "on_request_of_services": N_("Interwencja na prośbę służb"),
    "note_sensitive": N_("Notatka wrażliwa"),
    "code": N_("Kod"),
    "name": N_("Nazwa"),
    "category": N_("Kategoria"),
    "status": N_("Status"),
    "estimated_people": N_("Liczba osób"),
    "hazards": N_("Zagrożenia"),
    "access_notes": N_("Dojście"),
    "position": N_("Położenie"),
    "pin_here": N_("Środek mapy (przesuń mapę lub użyj położenia)"),
    "none": N_("brak"),
    "eta": N_("Przyjazd"),
    "done": N_("Zrobione"),
    "mark_done": N_("Oznacz jako zrobione"),
    "no_route": N_("Nie masz dziś przydzielonego patrolu."),
    "route_closed": N_("Trasa niedostępna"),
    "facilities": N_("Placówki"),
    "free_beds": N_("wolne miejsca"),
    "bus": N_("Autobus SOS"),
    "next_departure": N_("najbliższy odjazd"),
    "waiting_review": N_("Czeka na akceptację"),
    "applied": N_("Zapisano"),
    "accept": N_("Akceptuj"),
    "reject": N_("Odrzuć"),
    "nothing_waiting": N_("Nic nie czeka."),
    "refused": N_("Odrzucone przez serwer"),
    "unsent_confirm": N_(
        "Masz niewysłane wpisy. Pobierz je teraz – po wylogowaniu znikną z telefonu."
    ),
    "download_pending": N_("Pobierz niewysłane"),
    "logout_anyway": N_("Pobrano – wyloguj"),
    "revoked": N_("Sesja została unieważniona. Dane miejsc usunięto z telefonu."),
    "expired_data": N_("Dane na telefonie wygasły. Połącz się z siecią."),
    "required": N_("pole wymagane"),
    "too_many": N_("nie może przekraczać liczby spotkanych osób"),
    "no_change": N_("Nic nie zmieniono."),
    "now_value": N_("teraz"),
    "sites": N_("Miejsca"),
    "days_since": N_("dni od wizyty"),
}

# The office console (/app/console/…, issue 12): one section per page, keys prefixed by page.
CONSOLE: dict[str, str] = {
    # -- shell and navigation (H3a) --
    # -- end shell --
    # -- plan (H3a) --
    # -- end plan --
    # -- patrols (H3a) --
    # -- end patrols --
    # -- sos, beds (H3b) --
    # -- end sos, beds --
    # -- review (H3b) --
    # -- end review --
    # -- reports, admin, import (H3b) --
    # -- end reports, admin, import --
}


def texts(lang: Lang) -> dict[str, str]:
    """Every text of the app in `lang` (pl, en or uk), by key."""
    _ = translator(lang).gettext
    return {key: _(msgid) for key, msgid in (TEXT | CONSOLE).items()}
