"""Controlled vocabularies shared by layers, maps and reports, with labels in pl / en / uk.

Codes are ASCII and stable (they are stored); labels are for people. Polish first.
"""

from __future__ import annotations

from typing import Literal

# Carried by every map and export built from OSM data (ODbL 1.0).
OSM_ATTRIBUTION = "© OpenStreetMap contributors"

Lang = Literal["pl", "en", "uk"]
Labels = dict[str, tuple[str, str, str]]  # code -> (pl, en, uk)

# The place list of the national homelessness count (miejsca niemieszkalne).
SITE_CATEGORIES: Labels = {
    "altana_dzialkowa": ("altana / domek działkowy", "allotment shed", "дачний будиночок"),
    "pustostan": ("pustostan", "empty building", "покинута будівля"),
    "klatka_schodowa": ("klatka schodowa", "stairwell", "під'їзд / сходова клітка"),
    "piwnica": ("piwnica", "cellar", "підвал"),
    "dworzec_peron": ("dworzec / peron", "station / platform", "вокзал / перон"),
    "altana_smietnikowa": ("altana śmietnikowa", "bin shelter", "сміттєвий павільйон"),
    "kanal_cieplowniczy": ("kanał ciepłowniczy", "heating duct", "тепловий колектор"),
    "park_skwer": ("park / skwer", "park / square", "парк / сквер"),
    "las": ("las", "woods", "ліс"),
    "plaza": ("plaża", "beach", "пляж"),
    "namiot_szalas": ("namiot / szałas", "tent / shack", "намет / курінь"),
    "pojazd": ("pojazd", "vehicle", "транспортний засіб"),
    "inne": ("inne", "other", "інше"),
}

SITE_STATUSES: Labels = {
    "active": ("zamieszkałe", "active", "заселене"),
    "seasonal": ("sezonowe", "seasonal", "сезонне"),
    "inactive": ("nieużywane", "inactive", "невикористовуване"),
    "closed": ("zlikwidowane", "closed", "ліквідоване"),
}

HAZARDS: Labels = {
    "fire": ("ryzyko pożaru", "fire", "пожежа"),
    "carbon_monoxide": ("czad", "carbon monoxide", "чадний газ"),
    "cold_exposure": ("wychłodzenie", "cold exposure", "переохолодження"),
    "flooding": ("zalewanie", "flooding", "затоплення"),
    "aggressive_dog": ("agresywny pies", "aggressive dog", "агресивний собака"),
    "structural_collapse": ("ryzyko zawalenia", "structural collapse", "обвал"),
    "needles": ("igły / strzykawki", "needles", "голки / шприци"),
    "traffic": ("ruch uliczny / tory", "traffic / tracks", "рух транспорту / колії"),
    "other": ("inne zagrożenie", "other hazard", "інша небезпека"),
}

HELP_KINDS: Labels = {
    "pre_medical_aid": ("pomoc przedmedyczna", "pre-medical aid", "долікарська допомога"),
    "hot_meal": ("gorący posiłek", "hot meal", "гаряча їжа"),
    "clothes": ("odzież", "clothes", "одяг"),
    "information": ("informacja", "information", "інформація"),
    "referral": ("skierowanie", "referral", "направлення"),
}

# The ladder of help, from emergency to housing, plus offices and medical points.
FACILITY_TYPES: Labels = {
    "ogrzewalnia": ("ogrzewalnia", "warming centre", "пункт обігріву"),
    "noclegownia": ("noclegownia", "night shelter", "нічліжка"),
    "schronisko": ("schronisko", "shelter", "притулок"),
    "schronisko_uslugi_opiekuncze": (
        "schronisko z usługami opiekuńczymi",
        "shelter with care services",
        "притулок з опікунськими послугами",
    ),
    "mieszkanie_treningowe": ("mieszkanie treningowe", "training flat", "тренувальна квартира"),
    "mieszkanie_chronione": ("mieszkanie chronione", "protected flat", "захищена квартира"),
    "zimowy_punkt_interwencyjny": (
        "Zimowy Punkt Interwencyjny",
        "winter intervention point",
        "зимовий інтервенційний пункт",
    ),
    "jadlodajnia": ("jadłodajnia", "soup kitchen", "їдальня"),
    "mops": ("biuro MOPS", "MOPS office", "офіс MOPS"),
    "punkt_medyczny": ("punkt medyczny", "medical point", "медичний пункт"),
}

PATROL_KINDS: Labels = {
    "joint": ("patrol wspólny", "joint patrol", "спільний патруль"),
    "streetwork": ("streetworking", "streetwork", "стрітворкінг"),
    "sos_bus": ("dyżur autobusu SOS", "SOS bus duty", "чергування автобуса SOS"),
    "akcja_zima": ("Akcja Zima", "Akcja Zima (cold night)", "Акція Зима"),
    "inspection": ("kontrola / liczenie", "inspection / count", "перевірка / підрахунок"),
}

PATROL_STATUSES: Labels = {
    "planned": ("zaplanowany", "planned", "заплановано"),
    "in_progress": ("w trakcie", "in progress", "триває"),
    "done": ("zakończony", "done", "завершено"),
    "cancelled": ("odwołany", "cancelled", "скасовано"),
}

AGENCIES: Labels = {
    "mops": ("MOPS", "municipal welfare centre", "MOPS"),
    "straz_miejska": ("Straż Miejska", "city guard", "міська варта"),
    "policja": ("Policja", "police", "поліція"),
    "ngo": ("organizacja pozarządowa", "NGO", "громадська організація"),
    "ratownictwo": ("ratownik medyczny", "paramedic", "парамедик"),
    "other": ("inna", "other", "інше"),
}

AREA_KINDS: Labels = {
    "city": ("miasto", "city", "місто"),
    "district": ("dzielnica", "district", "район"),
    "area": ("obszar", "area", "територія"),
}

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # HSDS / RFC 5545 BYDAY codes


def label(vocab: Labels, code: str, lang: Lang = "pl") -> str:
    pl, en, uk = vocab[code]
    return {"pl": pl, "en": en, "uk": uk}[lang]


def sql_in(column: str, vocab: Labels | tuple[str, ...]) -> str:
    """A CHECK expression for a text column limited to the vocabulary (codes are ASCII)."""
    codes = ", ".join(f"'{c}'" for c in vocab)
    return f"{column} IN ({codes})"


def sql_subset(column: str, vocab: Labels | tuple[str, ...]) -> str:
    """A CHECK expression for a text[] column whose items all come from the vocabulary."""
    codes = ", ".join(f"'{c}'" for c in vocab)
    return f"{column} <@ ARRAY[{codes}]::text[]"
