"""Controlled vocabularies shared by layers, maps and reports, with their labels for people.

Codes are ASCII and stable (they are stored); a label is the Polish text, which is also its msgid
in the translation catalogue (geo_outreach.core.i18n), so `label` gives it in pl, en or uk.
"""

from __future__ import annotations

from geo_outreach.core.i18n import N_, Lang, translator

# Carried by every map and export built from OSM data (ODbL 1.0).
OSM_ATTRIBUTION = "© OpenStreetMap contributors"

__all__ = ["Lang"]  # re-exported: maps, reports and the API take the language from here

Labels = dict[str, str]  # code -> Polish label (the catalogue's msgid)

# The place list of the national homelessness count (miejsca niemieszkalne).
SITE_CATEGORIES: Labels = {
    "altana_dzialkowa": N_("altana / domek działkowy"),
    "pustostan": N_("pustostan"),
    "klatka_schodowa": N_("klatka schodowa"),
    "piwnica": N_("piwnica"),
    "dworzec_peron": N_("dworzec / peron"),
    "altana_smietnikowa": N_("altana śmietnikowa"),
    "kanal_cieplowniczy": N_("kanał ciepłowniczy"),
    "park_skwer": N_("park / skwer"),
    "las": N_("las"),
    "plaza": N_("plaża"),
    "namiot_szalas": N_("namiot / szałas"),
    "pojazd": N_("pojazd"),
    "inne": N_("inne"),
}

SITE_STATUSES: Labels = {
    "active": N_("zamieszkałe"),
    "seasonal": N_("sezonowe"),
    "inactive": N_("nieużywane"),
    "closed": N_("zlikwidowane"),
}
# A live site may have people tonight: plans, coverage, heat maps and the demo's visits use it.
LIVE_SITE_STATUSES: tuple[str, ...] = ("active", "seasonal")

HAZARDS: Labels = {
    "fire": N_("ryzyko pożaru"),
    "carbon_monoxide": N_("czad"),
    "cold_exposure": N_("wychłodzenie"),
    "flooding": N_("zalewanie"),
    "aggressive_dog": N_("agresywny pies"),
    "structural_collapse": N_("ryzyko zawalenia"),
    "needles": N_("igły / strzykawki"),
    "traffic": N_("ruch uliczny / tory"),
    "other": N_("inne zagrożenie"),
}

HELP_KINDS: Labels = {
    "pre_medical_aid": N_("pomoc przedmedyczna"),
    "hot_meal": N_("gorący posiłek"),
    "clothes": N_("odzież"),
    "information": N_("informacja"),
    "referral": N_("skierowanie"),
}

# The ladder of help, from emergency to housing, plus offices and medical points.
FACILITY_TYPES: Labels = {
    "ogrzewalnia": N_("ogrzewalnia"),
    "noclegownia": N_("noclegownia"),
    "schronisko": N_("schronisko"),
    "schronisko_uslugi_opiekuncze": N_("schronisko z usługami opiekuńczymi"),
    "mieszkanie_treningowe": N_("mieszkanie treningowe"),
    "mieszkanie_chronione": N_("mieszkanie chronione"),
    "zimowy_punkt_interwencyjny": N_("Zimowy Punkt Interwencyjny"),
    "jadlodajnia": N_("jadłodajnia"),
    "mops": N_("biuro MOPS"),
    "punkt_medyczny": N_("punkt medyczny"),
}

PATROL_KINDS: Labels = {
    "joint": N_("patrol wspólny"),
    "streetwork": N_("streetworking"),
    "sos_bus": N_("dyżur autobusu SOS"),
    "akcja_zima": N_("Akcja Zima"),
    "inspection": N_("kontrola / liczenie"),
}

PATROL_STATUSES: Labels = {
    "planned": N_("zaplanowany"),
    "in_progress": N_("w trakcie"),
    "done": N_("zakończony"),
    "cancelled": N_("odwołany"),
}

AGENCIES: Labels = {
    "mops": N_("MOPS"),
    "straz_miejska": N_("Straż Miejska"),
    "policja": N_("Policja"),
    "ngo": N_("organizacja pozarządowa"),
    "ratownictwo": N_("ratownik medyczny"),
    "other": N_("inna"),
}

AREA_KINDS: Labels = {
    "city": N_("miasto"),
    "district": N_("dzielnica"),
    "area": N_("obszar"),
}

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # HSDS / RFC 5545 BYDAY codes


def label(vocab: Labels, code: str, lang: Lang = "pl") -> str:
    """The label of a code in `lang`, from the catalogue."""
    return translator(lang).gettext(vocab[code])


def sql_in(column: str, vocab: Labels | tuple[str, ...]) -> str:
    """A CHECK expression for a text column limited to the vocabulary (codes are ASCII)."""
    codes = ", ".join(f"'{c}'" for c in vocab)
    return f"{column} IN ({codes})"


def sql_subset(column: str, vocab: Labels | tuple[str, ...]) -> str:
    """A CHECK expression for a text[] column whose items all come from the vocabulary."""
    codes = ", ".join(f"'{c}'" for c in vocab)
    return f"{column} <@ ARRAY[{codes}]::text[]"
