"""Schemathesis against a running system, through the gateway's merged OpenAPI document.

- ``prepare(url, admin_phone, admin_password)`` -> ``Prepared``: a fund with a committee user, two
  members and a collector, made through the public API, and the tokens of a platform admin and of
  that committee.
- ``fuzz(url, token, prepared, ...)`` -> ``Outcome``: one bounded, seeded schemathesis run (its CLI,
  as a subprocess) with the caller's token; every answer of 500 or above is a failure, listed by
  operation with a curl command that repeats it; so is a request not answered within
  ``REQUEST_TIMEOUT``, or an operation schemathesis could not test. Error answers that are not problem+json are
  collected beside it (``tests/support/fuzz_hooks.py``) as notes, not failures.

Path parameters naming the prepared objects (``fund_id``, ``member_id``, ``user_id``,
``collector_id``, and a deposit's, a claim's, a program's and an application's) are pinned to
them, so an operation reaches past "no such fund" into its own work.

Run against a system already running (``make run``), one command::

    .venv/bin/python -m tests.support.fuzz --url http://127.0.0.1:8000 --phone PHONE --password PASSWORD \
        [--as committee|platform_admin] [--operation 'PATCH /v1/members/funds/{fund_id}/members/{member_id}']
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.members.thai import national_id_check_digit

#: Fixed, so that a run is the same run every time (schemathesis derives every case from it).
SEED = 21
#: Seconds of fuzzing for each caller; the whole test is two such runs and the system's start. Within it
#: every operation is still sent its examples, coverage cases and fuzzed cases; the budget decides how
#: many of each, and how often the fuzzing phase goes round again.
BUDGET_SECONDS = 25
#: Cases per operation at most; the budget usually ends a run first.
MAX_EXAMPLES = 25
#: One worker: the operations run in one order, so a run repeats itself as closely as a live system allows.
WORKERS = 1
#: Seconds one request may take before schemathesis gives up on it (and reports it).
REQUEST_TIMEOUT = 15
#: LINE sign-in configured (a channel that exists nowhere, its keys at an address nobody answers), so
#: the LINE routes judge what they are sent instead of answering 503 "LINE is not configured".
SYSTEM_ENV = {
    "SAJJA_GATEWAY_LINE_LOGIN_CHANNEL_ID": "1650000000",
    "SAJJA_GATEWAY_LINE_LOGIN_CHANNEL_SECRET": "fuzz-line-login-channel-secret",
    "SAJJA_GATEWAY_LINE_JWKS_URL": "http://127.0.0.1:9/oauth2/v2.1/certs",
}
HOOKS = Path(__file__).with_name("fuzz_hooks.py")

FUND = {
    "name": "กองทุนสวัสดิการชุมชนตำบลทดสอบ",
    "province": "นครศรีธรรมราช",
    "district": "ฉวาง",
    "subdistrict": "ฉวาง",
    "founded_on": "2011-06-01",
    "population": 2775,
}


@dataclass
class Prepared:
    """What the fuzzer is pointed at: the admin's and the committee's tokens and the fund's objects."""

    admin_token: str
    committee_token: str
    fund_id: str
    member_ids: list[str]
    collector_user_id: str
    #: Objects further in, by path parameter name: a deposit, a claim, a program, an application.
    #: One the system refused to make is left out (its parameter is then generated).
    more: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """One schemathesis run: the operations answering 5xx (with how to repeat each), and notes."""

    caller: str
    returncode: int
    server_errors: dict[str, list[str]] = field(default_factory=dict)
    not_problem_json: dict[str, list[str]] = field(default_factory=dict)
    other_failures: dict[str, list[str]] = field(default_factory=dict)
    output: str = ""

    def describe(self) -> str:
        """What went wrong, by operation; the caller's token in the curl commands is ``$TOKEN``."""
        lines = [f"== as {self.caller}: {len(self.server_errors)} operation(s) answering 5xx"]
        for operation, details in sorted(self.server_errors.items()):
            lines.append(f"- {operation}")
            for detail in details:
                lines.extend("    " + line for line in _short(detail).splitlines() if line.strip())
        if self.other_failures:
            lines.append(f"== as {self.caller}: {len(self.other_failures)} operation(s) not answered in time, or not testable")
            for operation, details in sorted(self.other_failures.items()):
                lines.append(f"- {operation}: " + " | ".join(d.splitlines()[0] for d in details if d))
        if self.not_problem_json:
            lines.append(f"== as {self.caller}: error answers that are not problem+json (not a failure)")
            for operation, details in sorted(self.not_problem_json.items()):
                lines.append(f"- {operation}: {details[0]}")
        return "\n".join(lines)


def _short(detail: str) -> str:
    """A failure's text without schemathesis' headings, the token replaced by ``$TOKEN``."""
    detail = re.sub(r"Bearer [A-Za-z0-9._-]+", "Bearer $TOKEN", detail)
    return "\n".join(line for line in detail.splitlines()
                     if line.strip() not in ("ST101", "Reproduce with:") and not line.lstrip().startswith("1. Test Case ID"))


def _national_id(n: int) -> str:
    first12 = "3" + f"{n:011d}"
    return first12 + str(national_id_check_digit(first12))


def _ok(response: httpx.Response, status: int = 201) -> dict:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


def prepare(url: str, admin_phone: str, admin_password: str) -> Prepared:
    """A fund with a committee user, two members and a collector, through the public API."""
    tag = uuid.uuid4().int % 10**6
    with httpx.Client(base_url=url, timeout=30) as client:
        admin = _ok(client.post("/v1/auth/login", json={"phone": admin_phone, "password": admin_password}), 200)
        admin_headers = {"Authorization": f"Bearer {admin['access_token']}"}
        fund = _ok(client.post("/v1/members/funds", headers=admin_headers, json=FUND))
        phone, password = f"087{tag:07d}", "fuzz-committee-1"
        _ok(client.post("/v1/auth/users", headers=admin_headers, json={
            "phone": phone, "password": password, "display_name": "กรรมการ", "role": "committee",
            "fund_id": fund["id"]}))
        committee = _ok(client.post("/v1/auth/login", json={"phone": phone, "password": password}), 200)
        committee_headers = {"Authorization": f"Bearer {committee['access_token']}"}
        member_ids = []
        for n in range(2):
            member = _ok(client.post(f"/v1/members/funds/{fund['id']}/members", headers=committee_headers, json={
                "national_id": _national_id(tag * 10 + n), "first_name": "มาลี", "last_name": f"ใจดี{n}",
                "birth_date": "1970-01-01", "sex": "female", "village": 1, "joined_on": "2015-01-01",
                "consent_given": True}))
            member_ids.append(member["id"])
        collector = _ok(client.post("/v1/auth/users", headers=admin_headers, json={
            "phone": f"085{tag:07d}", "password": "654321", "display_name": "อาสา", "role": "collector",
            "fund_id": fund["id"]}))
        _ok(client.post(f"/v1/members/funds/{fund['id']}/collectors", headers=committee_headers,
                        json={"user_id": collector["id"], "display_name": "อาสา", "villages": [1]}))
        more = _further_objects(client, fund["id"], member_ids[0], admin_headers, committee_headers,
                                collector_login={"phone": f"085{tag:07d}", "password": "654321"})
    return Prepared(admin_token=admin["access_token"], committee_token=committee["access_token"],
                    fund_id=fund["id"], member_ids=member_ids, collector_user_id=collector["id"], more=more)


def _further_objects(client: httpx.Client, fund_id: str, member_id: str, admin: dict[str, str],
                     committee: dict[str, str], collector_login: dict[str, str]) -> dict[str, str]:
    """A deposit, a benefit claim, a grant program and an application of the fund, each id by the
    path parameter naming it, so operations on them reach past "not found"."""
    made: dict[str, str] = {}

    def keep(name: str, response: httpx.Response) -> str | None:
        if response.status_code in (200, 201):
            made[name] = response.json()["id"]
        return made.get(name)

    collector = client.post("/v1/auth/login", json=collector_login)
    if collector.status_code == 200:
        keep("deposit_id", client.post(
            f"/v1/ledger/funds/{fund_id}/deposits", headers={"Authorization": f"Bearer {collector.json()['access_token']}"},
            json={"id": str(uuid.uuid4()), "member_id": member_id, "amount_satang": 3000,
                  "collected_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())}))
    client.post(f"/v1/benefits/funds/{fund_id}/catalog/from-templates", headers=admin, json={"effective_from": "2015-01-01"})
    keep("claim_id", client.post(f"/v1/benefits/funds/{fund_id}/claims", headers=committee, json={
        "id": str(uuid.uuid4()), "member_id": member_id, "benefit_code": "education",
        "event_date": time.strftime("%Y-%m-%d"), "details": "ทุนการศึกษาบุตร"}))
    grantor = client.post("/v1/grants/grantors", headers=admin, json={"kind": "codi", "name": "พอช. (ทดสอบ)"})
    if grantor.status_code == 201 and keep("program_id", client.post("/v1/grants/programs", headers=admin, json={
            "grantor_id": grantor.json()["id"], "name": "โครงการทดสอบ", "fiscal_year_be": 2569,
            "envelope_satang": 5_500_000})):
        keep("application_id", client.post(f"/v1/grants/programs/{made['program_id']}/applications", headers=committee, json={
            "fund_id": fund_id, "title": "คำขอทดสอบ", "summary": "สวัสดิการผู้สูงอายุ",
            "budget_lines": [{"line": "welfare", "description": "สวัสดิการ", "amount_satang": 1_000_000}]}))
    return made


def _config(prepared: Prepared) -> str:
    pinned = {
        "path.fund_id": prepared.fund_id,
        "path.member_id": prepared.member_ids[0],
        "path.user_id": prepared.collector_user_id,
        "path.collector_id": prepared.collector_user_id,
        **{f"path.{name}": value for name, value in prepared.more.items()},
    }
    return "[parameters]\n" + "".join(f'"{key}" = "{value}"\n' for key, value in pinned.items())


def _operation_of(name: str) -> str:
    """``"GET /v1/x"`` from a JUnit test case's name (schemathesis names them by method and path)."""
    return " ".join(name.split()[:2]) if name else "?"


def fuzz(url: str, token: str, prepared: Prepared, *, caller: str, workdir: Path,
         budget: int = BUDGET_SECONDS, operation: str | None = None) -> Outcome:
    """One seeded run of schemathesis through the gateway, bounded by ``budget`` seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "schemathesis.toml"
    config.write_text(_config(prepared))
    junit, notes = workdir / "junit.xml", workdir / "not-problem-json.jsonl"
    notes.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{url}/openapi.json",
        "--url", url,
        "--header", f"Authorization: Bearer {token}",
        "--checks", "not_a_server_error",
        "--phases", "examples,coverage,fuzzing",
        "--seed", str(SEED),
        "--max-examples", str(MAX_EXAMPLES),
        "--max-time", str(budget),
        "--request-timeout", str(REQUEST_TIMEOUT),
        "--workers", str(WORKERS),
        "--generation-database", "none",
        "--continue-on-failure",
        "--suppress-health-check", "all",
        "--report", "junit", "--report-junit-path", str(junit),
        "--output-sanitize", "false",
        "--no-color",
    ]
    if operation:
        command += ["--include-name", operation]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "SAJJA_FUZZ_NOTES": str(notes)}
    # The run ends itself at its budget; the timeout only stops a run that hangs.
    done = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=budget + 120)
    outcome = Outcome(caller=caller, returncode=done.returncode, output=done.stdout + done.stderr)
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            operation_name = _operation_of(case.get("name", ""))
            for failure in case.findall("failure"):
                text = (failure.get("message") or "") + "\n" + (failure.text or "")
                bucket = outcome.server_errors if _is_server_error(text) else outcome.other_failures
                bucket.setdefault(operation_name, []).append(text.strip())
            for error in case.findall("error"):
                outcome.other_failures.setdefault(operation_name, []).append(
                    ((error.get("message") or "") + "\n" + (error.text or "")).strip())
    if notes.exists():
        for line in notes.read_text().splitlines():
            note = json.loads(line)
            outcome.not_problem_json.setdefault(note["operation"], []).append(
                f"{note['status']} {note['content_type']}")
    return outcome


def _is_server_error(text: str) -> bool:
    """A failure of schemathesis' ``not_a_server_error`` check (ST101), not a timeout or a network error."""
    return "Server error" in text


def main() -> None:
    parser = argparse.ArgumentParser(description="Schemathesis through a running system's gateway")
    parser.add_argument("--url", required=True)
    parser.add_argument("--phone", required=True, help="a platform admin's phone")
    parser.add_argument("--password", required=True)
    parser.add_argument("--as", dest="caller", choices=["platform_admin", "committee"], default="platform_admin")
    parser.add_argument("--operation", help="only this one, e.g. 'GET /v1/members/funds/{fund_id}'")
    parser.add_argument("--budget", type=int, default=BUDGET_SECONDS)
    args = parser.parse_args()
    prepared = prepare(args.url, args.phone, args.password)
    token = prepared.admin_token if args.caller == "platform_admin" else prepared.committee_token
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"sajja-fuzz-{int(time.time())}"
    outcome = fuzz(args.url, token, prepared, caller=args.caller, workdir=workdir, budget=args.budget,
                   operation=args.operation)
    print(outcome.output)
    print(outcome.describe())
    print(f"reports in {workdir}")
    sys.exit(1 if outcome.server_errors else 0)


if __name__ == "__main__":
    main()
