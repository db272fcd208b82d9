"""Benefits service: each fund's welfare catalog and rules, claims, approvals and payouts."""
