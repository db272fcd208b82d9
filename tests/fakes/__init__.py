"""Stand-ins for outside services the tests talk to (``line``: the LINE Platform)."""
