"""Pure map builders: data in, folium.Map out, no I/O. The maps come with their own issue."""
