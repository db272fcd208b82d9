"""Ledger service: a double-entry savings and co-funding ledger per fund."""
