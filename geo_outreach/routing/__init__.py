"""Route planning over the real street network: the OSM network and travel-time matrix (network),
the PyVRP solver core (vrp), the planner for each mode (planner), plan exports GeoJSON/GPX/route
sheet (exports) and SOS-bus coverage (bus).
"""
