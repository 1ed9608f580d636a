"""The demo's OSM rule table (geo_outreach/demo/source.py): hand-checkable tag sets, order, reach.

The byte-identical demo output is covered by tests/test_demo_source.py (determinism, categories,
labels, positions against the real extract); here each case can be checked by reading the table.
"""

from __future__ import annotations

import os
from pathlib import Path

import osmium
import pytest

from geo_outreach.demo.source import (
    _NODE,
    _RULES,
    _WAY,
    CATEGORIES,
    _classify,
    _Label,
    _Out,
    _Table,
    demo_sites,
)

DATA_DIR = Path(
    os.environ.get("GEO_OUTREACH_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)

# (kind, osm_id, tags) → the label, or None; comments say which rule decides and why.
CASES = [
    # A ruin with a name: a squat named after the building.
    (_WAY, 1, {"building": "ruins", "name": "Stara Fabryka"},
     _Label("pustostan", "Pustostan – Stara Fabryka", True)),
    # A node's name is a former business's: never used.
    (_NODE, 1, {"disused:shop": "bakery", "name": "Piekarnia"},
     _Label("pustostan", "Pustostan – dawny lokal", False)),
    # A former car park is no empty building; nothing else applies.
    (_WAY, 1, {"disused:amenity": "parking"}, None),
    # A street under construction keeps its own name out of the label.
    (_WAY, 1, {"highway": "construction", "name": "Nowa"},
     _Label("pustostan", "Opuszczony plac budowy", False)),
    (_NODE, 1, {"railway": "halt", "name": "Gdańsk Zaspa", "operator:short": "SKM"},
     _Label("dworzec_peron", "Peron SKM Gdańsk Zaspa", True)),
    (_NODE, 1, {"railway": "station", "name": "Gdańsk Główny"},
     _Label("dworzec_peron", "Dworzec Gdańsk Główny – hala", True)),
    # Not built yet: no station.
    (_NODE, 1, {"railway": "station", "name": "Gdańsk Kowale", "proposed": "yes"}, None),
    (_NODE, 1, {"railway": "platform", "name": "1"}, None),  # a platform node, not a way
    (_WAY, 1, {"railway": "platform", "name": "1"}, _Label("dworzec_peron", "Peron 1", True)),
    (_WAY, 1, {"natural": "beach", "name": "Plaża Stogi"}, _Label("plaza", "Plaża Stogi", True)),
    (_WAY, 1, {"natural": "beach", "name": "Stogi"}, _Label("plaza", "Plaża Stogi", True)),
    (_WAY, 1, {"leisure": "park", "name": "Lasek Oliwski"},
     _Label("las", "Lasek Oliwski", True, spot=True)),
    (_WAY, 1, {"natural": "scrub"}, _Label("las", "Zagajnik", False)),
    (_WAY, 1, {"landuse": "grass", "name": "Skwer X"},
     _Label("park_skwer", "Skwer X", True, spot=True)),
    # A public-transport shelter is a stop shelter, not a hut.
    (_NODE, 1, {"amenity": "shelter", "shelter_type": "public_transport", "name": "Brama"},
     _Label("inne", "Wiata przystankowa – Brama", True)),
    (_NODE, 1, {"amenity": "shelter"}, _Label("namiot_szalas", "Wiata – szałas", False)),
    (_WAY, 1, {"amenity": "parking", "name": "Galeria"},
     _Label("pojazd", "Galeria – samochód", True)),
    (_WAY, 1, {"amenity": "parking", "parking": "underground"},
     _Label("pojazd", "Garaż – samochód", False)),
    (_WAY, 1, {"highway": "footway", "tunnel": "yes", "name": "Pod Torami"},
     _Label("inne", "Przejście podziemne – Pod Torami", True)),
    (_WAY, 1, {"highway": "primary", "tunnel": "yes", "name": "Aleja Grunwaldzka"},
     _Label("inne", "Wnęka przy tunelu – Aleja Grunwaldzka", True)),
    (_WAY, 1, {"highway": "primary", "tunnel": "yes", "name": "D3"},  # code-like: no address
     _Label("inne", "Wnęka przy tunelu", False)),
    (_WAY, 1, {"highway": "footway", "bridge": "yes", "name": "Kładka"},
     _Label("inne", "Pod kładką", False)),
    # An entrance gives its street, never the house number.
    (_NODE, 1, {"entrance": "staircase", "addr:street": "Długa", "addr:housenumber": "5"},
     _Label("klatka_schodowa", "Klatka schodowa – ul. Długa", True)),
    (_NODE, 1, {"entrance": "exit"}, _Label("piwnica", "Zejście do piwnicy", False)),
    (_WAY, 1, {"building": "apartments", "addr:street": "Aleja Hallera"},
     _Label("piwnica", "Piwnica – Aleja Hallera", True)),
    # Stand-ins split by OSM id: tracks by id % 4, housing streets by id % 10.
    (_WAY, 8, {"highway": "track", "access": "private"},
     _Label("altana_dzialkowa", "Ogródki działkowe – altana", False)),
    (_WAY, 8, {"highway": "track"}, _Label("namiot_szalas", "Szałas przy leśnej drodze", False)),
    (_WAY, 9, {"highway": "track"}, _Label("las", "Las przy leśnej drodze", False)),
    (_WAY, 13, {"highway": "residential", "name": "Długa"},
     _Label("kanal_cieplowniczy", "Kanał ciepłowniczy – ul. Długa", True)),
    (_WAY, 14, {"highway": "residential", "name": "Długa"},
     _Label("pustostan", "Pustostan – ul. Długa", True)),
    (_WAY, 17, {"highway": "living_street", "name": "Długa"},
     _Label("piwnica", "Piwnica – ul. Długa", True)),
    (_WAY, 19, {"highway": "residential"}, _Label("klatka_schodowa", "Klatka schodowa", False)),
    (_WAY, 1, {"highway": "service", "service": "alley", "name": "Zaułek Świętego Ducha"},
     _Label("altana_smietnikowa", "Altana śmietnikowa – Zaułek Świętego Ducha", True)),
    (_WAY, 1, {"highway": "primary", "name": "Długa"}, None),
    (_NODE, 1, {"shop": "bakery"}, None),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "osm_id", "tags", "expected"), CASES)
def test_tag_sets_get_the_hand_checked_label(
    kind: int, osm_id: int, tags: dict[str, str], expected: _Label | None
) -> None:
    assert _classify(kind, osm_id, tags) == expected


def _outcomes(table: _Table) -> list[_Out]:
    found: list[_Out] = []
    for rule in table.rules:
        found += [rule.then] if isinstance(rule.then, _Out) else _outcomes(rule.then)
    return found


def test_every_category_has_a_rule_and_every_rule_a_known_category() -> None:
    categories = [out.category for out in _outcomes(_RULES)]
    assert set(categories) == set(CATEGORIES)


def test_each_demo_site_is_labelled_by_the_table_from_its_own_osm_feature() -> None:
    """The real extract: every site's OSM feature classifies to the site's category and label."""
    pbf = DATA_DIR / "osm" / "gdansk-central.osm.pbf"
    sites = demo_sites(DATA_DIR, n=120)
    refs = {s.osm_ref: s for s in sites}
    seen = 0
    for obj in osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY):
        kind = _NODE if isinstance(obj, osmium.osm.Node) else _WAY
        site = refs.get(f"{'node' if kind == _NODE else 'way'}/{obj.id}")
        if site is None:
            continue
        label = _classify(kind, obj.id, {t.k: t.v for t in obj.tags})
        assert label is not None and label.category == site.category, site
        if label.named:
            assert site.name.startswith(label.text), (site, label)
        else:
            assert site.name == f"{label.text} {site.code}", (site, label)
        seen += 1
    assert seen == len(sites)
