"""The geo-outreach command line. It sits on top: nothing imports it."""
