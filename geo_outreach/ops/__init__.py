"""Running it for real (issue 16): encrypted backups and their restore, retention and redaction."""
