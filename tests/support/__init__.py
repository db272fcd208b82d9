"""What the tests share, in one place (test files import from here, never from each other):

- ``helpers``: access tokens of any role (``Tokens``), the gateway's test settings, logging in,
  free ports and small servers on real sockets.
- ``apps``: a service's or the gateway's app on a rolled-back connection, and the clients one
  service uses to call another (the fixtures in ``tests/conftest.py`` are built from these).
- ``factories``: funds, members, collectors, ledger books, the funds of the source documents.
- ``system``: the whole system started as real processes (end-to-end tests and ``make bench``).
"""
