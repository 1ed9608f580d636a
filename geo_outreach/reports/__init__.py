"""The programme's yearly indicator tables (tables), their HTML/Markdown/CSV/PNG rendering (render)
and the count-night figures.
"""
