"""Schemathesis through the gateway of the whole running system: no operation answers 5xx.

The system starts as real processes (``tests/support/system.py``); a fund with a committee user,
members and a collector is made through the API; then schemathesis runs on the gateway's merged
OpenAPI document twice, seeded and bounded (``tests/support/fuzz.py``): as the fund's committee,
then as a platform admin (last, since an admin's fuzzed changes may reach the committee's fund).
A failure lists each operation that answered 5xx (or not at all within the request timeout) with
a curl command repeating it; error answers that are not problem+json are printed beside it
without failing the test. docs/fuzzing.md says how to repeat one operation alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import fuzz
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, running_system

pytestmark = pytest.mark.e2e


def test_no_operation_answers_a_server_error(tmp_path: Path) -> None:
    with running_system(tmp_path / "home", extra_env=fuzz.SYSTEM_ENV) as system:
        prepared = fuzz.prepare(system.url, ADMIN_PHONE, ADMIN_PASSWORD)
        outcomes = [
            fuzz.fuzz(system.url, prepared.committee_token, prepared, caller="committee", workdir=tmp_path / "committee"),
            fuzz.fuzz(system.url, prepared.admin_token, prepared, caller="platform_admin", workdir=tmp_path / "admin"),
        ]
    report = "\n\n".join(outcome.describe() for outcome in outcomes)
    for outcome in outcomes:
        assert outcome.returncode in (0, 1), f"schemathesis could not run as {outcome.caller}:\n{outcome.output[-4000:]}"
    failing = sorted({f"{op} (as {o.caller})" for o in outcomes for op in o.server_errors})
    assert not failing, f"{len(failing)} operation(s) answered 5xx:\n" + "\n".join(failing) + "\n\n" + report
    untested = sorted({f"{op} (as {o.caller})" for o in outcomes for op in o.other_failures})
    assert not untested, f"{len(untested)} operation(s) not answered in time, or not testable:\n" + "\n".join(untested) + "\n\n" + report
    print(report)  # the notes (answers that are not problem+json), for -s
