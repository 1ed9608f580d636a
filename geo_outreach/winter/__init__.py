"""Cold nights and public alerts (issue 14): the forecast adapter, the nightly winter check with
its proposal and notices, and the public's alerts with their triage."""
