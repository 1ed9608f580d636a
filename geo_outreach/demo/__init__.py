"""The deterministic Gdańsk–Sopot demo: sites generated from real OSM features (source) and loaded
with a year of patrols and visits (load); a throw-away cluster holding it, for tests and
benchmarks (cluster).
"""
