"""Reading and writing layers as files: GeoJSON, CSV, Shapefile, GeoPackage, GPX. One engine for
the command line and the API.
"""
