"""Stand-ins for outside services the tests talk to (``line``: the LINE Platform; ``webhooks``: a grant
system's webhook receiver, and a DNS the test controls)."""
