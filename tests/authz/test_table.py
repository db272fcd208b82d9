"""The authorization table itself: every route of the five processes has a row, every row is a
route, the policies answer in the matrix's words, the callers cover every role, scope and service
the code knows, and the committed matrix and its published form are what the generator writes.
(No database: the answers are ``test_matrix.py``'s.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.auth import Role
from shared.settings import PROCESS_NAMES
from tests.authz import generate
from tests.authz.policies import OUTCOMES, POLICIES
from tests.authz.principals import CHECKED_SCOPES, PRINCIPALS, SERVICES
from tests.authz.routes import APPS, all_routes
from tests.authz.table import ROUTE_POLICIES, parse

ROOT = Path(__file__).resolve().parents[2]

HOW_TO_ADD = (
    "add a line 'process METHOD path policy' for it to tests/authz/table.py (a policy of "
    "tests/authz/policies.py, or a new one there), then run " + generate.COMMAND
)


@pytest.mark.parametrize("app", list(APPS))
def test_every_route_has_a_row(app: str) -> None:
    missing = [route.id for route in all_routes() if route.app == app and route not in ROUTE_POLICIES]
    assert not missing, f"routes with no row in the authorization table: {missing}; {HOW_TO_ADD}"


def test_every_row_is_a_route() -> None:
    served = set(all_routes())
    stale = [route.id for route in ROUTE_POLICIES if route not in served]
    assert not stale, f"tests/authz/table.py names routes no app serves (remove them, then run {generate.COMMAND}): {stale}"


def test_every_row_names_a_policy_and_every_policy_answers_in_the_matrix_words() -> None:
    unknown = {f"{route.id}: {name}" for route, name in ROUTE_POLICIES.items() if name not in POLICIES}
    assert not unknown, f"policies not in tests/authz/policies.py: {sorted(unknown)}"
    for policy in POLICIES.values():
        assert set(policy.row().values()) <= set(OUTCOMES), policy.name
        assert policy.expected("anonymous") in ("401", "allow", "login"), policy.name
        assert not (policy.allow & policy.not_found), f"{policy.name} both admits and hides {policy.allow & policy.not_found}"


def test_the_table_parser_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="want 'app METHOD path policy'"):
        parse("members GET /healthz")
    with pytest.raises(ValueError, match="twice"):
        parse("members GET /healthz public\nmembers GET /healthz public")


def test_the_callers_cover_every_role_every_checked_scope_and_every_service() -> None:
    roles = {p.role for p in PRINCIPALS if p.role is not None}
    assert roles == set(Role), f"roles with no caller in tests/authz/principals.py: {set(Role) - roles}"
    assert {f"service_{name}" for name in PROCESS_NAMES} <= {p.key for p in PRINCIPALS}
    assert set(SERVICES) == set(PROCESS_NAMES)
    # A scope a route checks is a string like "grants:decide" in a service's or the gateway's code.
    checked = set()
    for path in [*(ROOT / "services").rglob("*.py"), *(ROOT / "gateway").rglob("*.py")]:
        checked.update(re.findall(r"[\"'](grants:[a-z_]+)[\"']", path.read_text()))
    assert checked <= set(CHECKED_SCOPES), f"scopes the code checks with no caller holding them: {checked - set(CHECKED_SCOPES)}"
    held = {scope for p in PRINCIPALS for scope in p.scopes}
    assert set(CHECKED_SCOPES) <= held


def test_the_committed_matrix_and_its_published_form_are_what_the_generator_writes() -> None:
    for path, text in generate.expected_files().items():
        assert path.exists() and path.read_text() == text, (
            f"{path.relative_to(ROOT)} is not what the generator writes from tests/authz/policies.py and "
            f"tests/authz/table.py: run {generate.COMMAND} and commit the result")
