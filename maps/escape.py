"""The one escape for text that goes into map HTML: tooltips, popups, labels, legends, layer names.

Folium places a tooltip's or popup's HTML inside a JavaScript template literal (`…`), and a layer
name inside a double-quoted JavaScript string, all in an inline <script>. HTML escaping alone is
not enough there: a backtick ends the literal, `${…}` runs code and a backslash escapes the
closing quote. So besides & < > " ' this also writes ` $ \\ and line breaks as character
references, which the browser shows as the same characters. The result is safe in HTML text, in
a quoted attribute, and in those JavaScript strings, and shows the text literally.

Use it on every value that is data (site codes and names, facility, team, stop and district
names, notes), never on markup built here. JSON handed to our scripts goes through Jinja's
`tojson` filter, which writes < > & ' as \\u escapes, so no value can close the <script>.
"""

from __future__ import annotations

import html

_SCRIPT_SAFE = str.maketrans(
    {"`": "&#96;", "$": "&#36;", "\\": "&#92;", "\n": "&#10;", "\r": "&#13;"}
)


def escape(value: object) -> str:
    """`value` as text for map HTML (and the JS strings folium wraps that HTML in)."""
    return html.escape(str(value), quote=True).translate(_SCRIPT_SAFE)
