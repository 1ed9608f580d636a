"""Map data read from the database (data) and the one entry point that renders the live, planner
and public maps for the command line and the API (render).
"""
