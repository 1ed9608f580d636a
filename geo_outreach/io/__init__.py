"""Reading and writing layers as files: imports from GeoJSON, CSV, Shapefile and GeoPackage
(files), and the one export engine to GeoJSON, GeoPackage, CSV and GPX that the command line and
the API both use (exports).
"""
