"""`python -m geo_outreach.cli` runs the command line (tests and benchmarks start the server so)."""

from geo_outreach.cli.main import main

main()
