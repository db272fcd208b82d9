"""Grants service: programs, applications, screening, awards, tranches and disbursements."""
