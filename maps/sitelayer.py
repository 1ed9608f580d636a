"""The live map's site layer and search box: our own Leaflet code, shipped as a local asset.

Sites travel as one compact array; the layer clusters them on a pixel grid of the visible area at
every move and draws only what is on screen (canvas circles, a DOM badge per cluster). There is
never one Marker object per site, so 20k sites paint as fast as 1k. The code itself lives in
maps/static/geo-outreach-sites.js; the row columns it reads are built by maps/live.py.
"""

from __future__ import annotations

from maps import assets

SITE_LAYER_JS = assets.register("geo-outreach-sites.js")
