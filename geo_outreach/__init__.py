"""geo-outreach: PostGIS-backed records, plans and maps for homeless outreach."""

__version__ = "0.1.0"

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
