"""geo-outreach: PostGIS-backed records, plans and maps for homeless outreach.

The packages, from the bottom up (imports only ever point down; see the import-linter
contracts in pyproject.toml):

- ``core``: settings, errors, vocabularies, translations, role policy, disclosure rules,
  plan data classes, the database engine, the embedded PostGIS and its migrations.
- ``layers`` (top level): one module per stored layer.
- ``maps`` (top level): pure Folium builders.
- services: ``accounts`` (users, logins, tokens), ``routing`` (street network, solver,
  planner, plan exports, SOS-bus coverage), ``reports`` (yearly tables), ``io`` (import and
  export), ``demo`` (the Gdańsk–Sopot demo), ``mapping`` (map data from the database and
  the one map-rendering entry point).
- ``cli`` here and ``api`` (top level) sit on top; nothing imports them.
"""

__version__ = "0.1.0"
