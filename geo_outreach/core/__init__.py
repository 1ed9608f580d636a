"""The core every other package builds on: settings, domain errors, vocabularies and labels,
translations, the role policy, disclosure rules, plan data classes, the database engine, the
embedded PostGIS and its Alembic migrations. It imports nothing of the project outside itself.
"""
