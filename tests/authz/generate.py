"""Writes the authorization matrix and its published form from the policies and the route table.

    .venv/bin/python -m tests.authz.generate            # write tests/authz/matrix.csv and docs/authorization.md
    .venv/bin/python -m tests.authz.generate --check    # exit 1 if either differs from what it would write

``tests/authz/matrix.csv``: one row per route (process, method, path, policy), one column per
principal, each cell the expected answer. ``docs/authorization.md``: who may do what, per process,
then the policies cell by cell. ``tests/authz/test_table.py`` fails when either file is not what
this writes now.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from tests.authz.policies import POLICIES, Policy, web
from tests.authz.principals import PRINCIPALS
from tests.authz.routes import APPS, Route
from tests.authz.table import ROUTE_POLICIES

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "tests" / "authz" / "matrix.csv"
DOC = ROOT / "docs" / "authorization.md"
COMMAND = ".venv/bin/python -m tests.authz.generate"

#: How the published table writes each answer.
SYMBOLS = {"allow": "✓", "401": "401", "403": "403", "404": "404", "login": "→login"}

PROCESS_TITLES = {
    "members": "Members service (`/v1/members`)",
    "ledger": "Ledger service (`/v1/ledger`)",
    "benefits": "Benefits service (`/v1/benefits`)",
    "grants": "Grants service (`/v1/grants`)",
    "gateway": "Gateway (`/v1/auth`, `/v1/line`, `/v1/dashboard`, the web pages under `/dashboard`)",
}


def policy_of(route: Route) -> Policy:
    """The route's policy (its web form for a web page)."""
    policy = POLICIES[ROUTE_POLICIES[route]]
    return web(policy) if route.is_web_page and policy.name != "public" else policy


def ordered_routes() -> list[Route]:
    return sorted(ROUTE_POLICIES, key=lambda r: (list(APPS).index(r.app), r.path, r.method))


def matrix_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["process", "method", "path", "policy", *(p.key for p in PRINCIPALS)])
    for route in ordered_routes():
        policy = policy_of(route)
        writer.writerow([route.app, route.method, route.path, policy.name, *(policy.expected(p.key) for p in PRINCIPALS)])
    return out.getvalue()


def _who(policy: Policy) -> str:
    allowed = [p.key for p in PRINCIPALS if policy.expected(p.key) == "allow"]
    if policy.name == "public":
        return "anyone"
    others = [p.key for p in PRINCIPALS[1:] if p.key not in allowed]
    if not others:
        return "every signed-in caller"
    if len(others) < len(allowed) / 2:
        return "every signed-in caller but " + ", ".join(f"`{k}`" for k in others)
    return ", ".join(f"`{k}`" for k in allowed) or "nobody"


def document() -> str:
    lines = [
        "# Who may do what",
        "",
        "<!-- Written by `" + COMMAND + "` from tests/authz/policies.py and tests/authz/table.py; do not edit. -->",
        "",
        "Every route of the five processes, against every kind of caller, with the answer each gets. The",
        "same table is `tests/authz/matrix.csv`, and `tests/authz/test_matrix.py` asks every route as every",
        "caller and fails when an answer differs. To change who may call a route, change its policy in",
        "`tests/authz/table.py` (or the policy in `tests/authz/policies.py`) and run `" + COMMAND + "`;",
        "a new route fails the tests until it has a line there.",
        "",
        "## How to read it",
        "",
        "The callers are tokens as the gateway mints them, about two funds: **fund A**, whose objects are in",
        "the path, and **fund B**, another fund in another network.",
        "",
        "| caller | who |",
        "|---|---|",
        *(f"| `{p.key}` | {p.label} |" for p in PRINCIPALS),
        "",
        "The answers:",
        "",
        "- ✓: admitted (what the route then does with the request is its own business: a 409 or a 422 too);",
        "- 401: no token, or a bad one;",
        "- 403: refused, as `application/problem+json` with a `code`;",
        "- 404: refused as if the object did not exist (problem+json): the caller cannot tell a hidden",
        "  object from a missing one, and the matrix checks it, by asking again with ids of nothing and",
        "  getting the same status and code;",
        "- →login: a web page without a session sends the browser to the login form (a web page refuses",
        "  with an HTML page of the same status, not problem+json).",
        "",
        "A caller outside fund A (another fund's people, another network's officers, grant officers and",
        "systems, services) is shown nothing of fund A's where a route admits them (a list, a roll-up),",
        "but where a policy says they see it. An object of another fund named under one's own fund's path",
        "(fund B's member under fund A) is answered as an object that does not exist. A request refused,",
        "for who asks or for what they ask (any 4xx), leaves nothing written: for every request that is",
        "not a GET, the matrix has PostgreSQL count the rows each database's tables gained, changed or",
        "lost, and compares a table it counted as the request left it and as it was. (A public route",
        "refuses nobody: a failed login is recorded on purpose, for the rate limit.)",
        "",
        "Routes of the services are called on the service and, for a sample, through the gateway, which",
        "forwards `/v1/<service>/...` unchanged and answers the same.",
        "",
        "Prometheus's `/metrics` is no route of any process, so it is in no table: every process, API or",
        "worker, serves it on a metrics port of its own (`SAJJA_METRICS_PORT`), which neither the ingress",
        "nor the gateway's forwarding reaches; only what can reach that port (in Kubernetes, the namespace",
        "`monitoring`) may read it, and an API port answers `/metrics` with a 404 ([observability.md](observability.md)).",
        "",
    ]
    for app in APPS:
        routes = [r for r in ordered_routes() if r.app == app]
        lines += [f"## {PROCESS_TITLES[app]}", ""]
        for name in dict.fromkeys(ROUTE_POLICIES[r] for r in sorted(routes, key=lambda r: ROUTE_POLICIES[r])):
            count = sum(1 for r in routes if ROUTE_POLICIES[r] == name)
            lines.append(f"- **{name}** ({count} route{'s' if count > 1 else ''}): {POLICIES[name].doc}")
        lines += ["", "| method | path | policy | who is admitted |", "|---|---|---|---|"]
        for route in routes:
            policy = policy_of(route)
            lines.append(f"| {route.method} | `{route.path}` | [{policy.name}](#{ROUTE_POLICIES[route]}) | {_who(policy)} |")
        lines.append("")
    lines += ["## Policies", "",
              "Each policy in words, then the answer each caller gets (a web page's form, `/web`, differs only",
              "for `anonymous`: →login).", ""]
    used = sorted({ROUTE_POLICIES[r] for r in ROUTE_POLICIES})
    for name in used:
        policy = POLICIES[name]
        lines += [f"### {name}", "", policy.doc, ""]
        refused = {}
        for p in PRINCIPALS:
            refused.setdefault(policy.expected(p.key), []).append(f"`{p.key}`")
        for outcome in ("allow", "404", "403", "401", "login"):
            if outcome in refused:
                lines.append(f"- {SYMBOLS[outcome]}: {', '.join(refused[outcome])}")
        if policy.sees:
            lines.append("- outside fund A, and shown its objects here, as they should be: "
                         + ", ".join(f"`{p.key}`" for p in PRINCIPALS if p.key in policy.sees))
        lines.append("")
    lines += ["## The whole matrix", "", "Columns in the order of the callers above.", "",
              "| process | method | path | " + " | ".join(_short(p.key) for p in PRINCIPALS) + " |",
              "|---|---|---|" + "---|" * len(PRINCIPALS)]
    for route in ordered_routes():
        policy = policy_of(route)
        cells = " | ".join(SYMBOLS[policy.expected(p.key)] for p in PRINCIPALS)
        lines.append(f"| {route.app} | {route.method} | `{route.path}` | {cells} |")
    lines.append("")
    return "\n".join(lines)


def _short(key: str) -> str:
    return f"`{key}`"


def expected_files() -> dict[Path, str]:
    return {MATRIX: matrix_csv(), DOC: document()}


def main(argv: list[str]) -> int:
    stale = [path for path, text in expected_files().items() if not path.exists() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is not what {COMMAND} writes", file=sys.stderr)
        return 1 if stale else 0
    for path, text in expected_files().items():
        path.write_text(text)
    print("wrote " + ", ".join(str(p.relative_to(ROOT)) for p in expected_files()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
