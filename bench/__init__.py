"""`make bench` (``python -m bench``): benchmarks of the whole system started as real processes.

``bench/run.py`` holds the sections and the load generator, ``bench/pgbench.py`` the pgbench
ceiling and what PostgreSQL's backends were doing. It starts the system with the tests' helper
(``tests/support/system.py``) and registers the end-to-end tests' fund.
"""
