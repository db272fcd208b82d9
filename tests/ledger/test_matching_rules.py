"""What co-funders owe under the fund's matching rules, as a pure function: one row per case.

``services.ledger.plans.service.match_due`` is the arithmetic of the matching report: each
member's net contribution in the year, the rules (ratio in basis points, an optional cap per
member a year) and what each source sent; it gives one line per rule with what is due, received
and outstanding. Rules are ORM objects made without a session; nothing here touches a database.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.ledger.models import MatchingRule
from services.ledger.plans.service import match_due

FUND = uuid.uuid4()


def rule(source: str, ratio_bp: int, cap: int | None = None) -> MatchingRule:
    return MatchingRule(fund_id=FUND, source=source, ratio_bp=ratio_bp, cap_per_member_year_satang=cap)


def row(name: str, contributions: list[int], rules: list[MatchingRule], received: dict[str, Any],
        lines: list[tuple[str, int, int, int]]) -> Any:
    """``lines``: (source, due, received, outstanding) for each rule, in the rules' order."""
    return pytest.param(contributions, rules, received, lines, id=name)


CODI = "codi"
LOCAL = "local_government"

CASES = [
    row("no rules: no lines", [50_000], [], {CODI: 10_000}, []),
    row("no contributions: nothing due", [], [rule(CODI, 10_000)], {}, [(CODI, 0, 0, 0)]),
    # --- The ratio, in basis points, each member's share rounded down to the satang -----------------------------------------
    row("1:1", [50_000, 20_000], [rule(CODI, 10_000)], {}, [(CODI, 70_000, 0, 70_000)]),
    row("1:2", [50_000, 20_000], [rule(CODI, 5_000)], {}, [(CODI, 35_000, 0, 35_000)]),
    row("2:1", [100], [rule(CODI, 20_000)], {}, [(CODI, 200, 0, 200)]),
    row("ratio zero", [50_000], [rule(CODI, 0)], {}, [(CODI, 0, 0, 0)]),
    row("half a satang rounds down", [333], [rule(CODI, 5_000)], {}, [(CODI, 166, 0, 166)]),
    row("rounded down per member, not on the sum", [1, 1, 1], [rule(CODI, 5_000)], {}, [(CODI, 0, 0, 0)]),
    row("a third, just short of a satang", [3], [rule(CODI, 3_333)], {}, [(CODI, 0, 0, 0)]),
    row("a third of 100 baht", [10_000], [rule(CODI, 3_333)], {}, [(CODI, 3_333, 0, 3_333)]),
    # --- A cap per member a year, on each member's share ---------------------------------------------------------------------
    row("cap: one large saver does not use up the others' share", [50_000, 20_000], [rule(CODI, 10_000, 36_500)], {},
        [(CODI, 56_500, 0, 56_500)]),
    row("cap: a satang under", [36_499], [rule(CODI, 10_000, 36_500)], {}, [(CODI, 36_499, 0, 36_499)]),
    row("cap: exactly", [36_500], [rule(CODI, 10_000, 36_500)], {}, [(CODI, 36_500, 0, 36_500)]),
    row("cap: a satang over", [36_501], [rule(CODI, 10_000, 36_500)], {}, [(CODI, 36_500, 0, 36_500)]),
    row("cap: on the share after the ratio", [19_999, 20_000, 30_000], [rule(CODI, 5_000, 10_000)], {},
        [(CODI, 9_999 + 10_000 + 10_000, 0, 29_999)]),
    # --- Members with a net of zero or less in the year -------------------------------------------------------------------
    row("net zero or negative: nothing, and no deduction", [0, -5_000, 10_000], [rule(CODI, 10_000)], {},
        [(CODI, 10_000, 0, 10_000)]),
    row("only net negative members", [-1, -20_000], [rule(CODI, 10_000, 36_500)], {}, [(CODI, 0, 0, 0)]),
    # --- Received against due ------------------------------------------------------------------------------------------------------
    row("received less than due", [50_000, 20_000], [rule(CODI, 10_000, 36_500)], {CODI: 30_000},
        [(CODI, 56_500, 30_000, 26_500)]),
    row("received exactly", [50_000], [rule(CODI, 10_000)], {CODI: 50_000}, [(CODI, 50_000, 50_000, 0)]),
    row("received more: nothing outstanding, no credit", [50_000], [rule(CODI, 10_000)], {CODI: 80_000},
        [(CODI, 50_000, 80_000, 0)]),
    row("received with nothing due", [], [rule(CODI, 10_000)], {CODI: 5_000}, [(CODI, 0, 5_000, 0)]),
    row("received from a source with no rule: no line", [50_000], [rule(CODI, 10_000)], {"donors": 99_000},
        [(CODI, 50_000, 0, 50_000)]),
    row("a sum of nothing from the database counts as nothing", [50_000], [rule(CODI, 10_000)], {CODI: None},
        [(CODI, 50_000, 0, 50_000)]),
    # --- Several sources, each on its own rule, in the rules' order ---------------------------------------------------------
    row("several sources", [50_000, 20_000, -3_000],
        [rule(CODI, 10_000, 36_500), rule("donors", 2_500), rule(LOCAL, 5_000, 5_000)],
        {LOCAL: 12_000, CODI: 56_500, "interest": 700},
        [(CODI, 56_500, 56_500, 0), ("donors", 17_500, 0, 17_500), (LOCAL, 10_000, 12_000, 0)]),
]


@pytest.mark.parametrize(("contributions", "rules", "received", "lines"), CASES)
def test_match_due(contributions: list[int], rules: list[MatchingRule], received: dict[str, Any],
                   lines: list[tuple[str, int, int, int]]) -> None:
    result = match_due(contributions, rules, received)
    assert [(x.source, x.due_satang, x.received_satang, x.outstanding_satang) for x in result] == lines
    assert [(x.ratio_bp, x.cap_per_member_year_satang) for x in result] == [(r.ratio_bp, r.cap_per_member_year_satang) for r in rules]
