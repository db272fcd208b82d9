"""The sustainability projection (issue 28, docs/projection.md).

- the pure engine on small funds with answers computed by hand: no randomness (zero rates, fixed
  contributions: the exact reserve path), a cohort that all dies in a known year (the floor year),
  a tiny cohort's expected deaths, tiered amounts; seeded runs reproducible; the band ordered;
- inputs estimated from books written by hand: the fund's own death rate, contributions per
  member-year, members without a birth date;
- the API: each what-if changes what it should and nothing is written; bad parameters are
  problem+json in Thai or English;
- Ban Song: the first projected year starts from the books it has and its 2019 income mix.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, text

from services.benefits.models import Benefit, BenefitFund, Claim, RuleVersion
from services.benefits.projection import model
from services.benefits.projection.inputs import DAYS_A_YEAR, LOOK_BACK_YEARS, Books, WhatIf, estimate
from services.benefits.rules import Rules
from services.ledger.models import Movement
from shared.auth import Role
from shared.figures import share_pct
from shared.timeutil import BANGKOK
from tests.support.factories import make_books, person

TODAY = dt.datetime.now(BANGKOK).date()
LAST_YEAR = TODAY.year - 1


def cells(**by_age: int) -> np.ndarray:
    """Members by (sex, age) from ``male_70=5, female_40=3``."""
    out = model.empty_cells()
    for key, count in by_age.items():
        sex, age = key.split("_")
        out[model.SEXES.index(sex), int(age)] = count
    return out


def inputs(**kw: Any) -> model.Inputs:
    base: dict[str, Any] = dict(first_year=2027, reserve_satang=0, reserve_floor_satang=0, members=model.empty_cells(),
                                tenure=model.empty_cells(), death_q=model.empty_cells())
    return model.Inputs(**(base | kw))


# --- (a) The engine, by hand -------------------------------------------------------------------------


def test_without_randomness_the_reserve_path_is_exact() -> None:
    """100 members aged 40, nobody dies or leaves or joins, 365 baht a member a year, 10,000 baht of
    co-funding a year, nothing claimed: each year adds 100 x 36,500 + 1,000,000 = 4,650,000 satang."""
    fund = inputs(reserve_satang=5_000_000, reserve_floor_satang=1_000_000, members=cells(female_40=100),
                  contribution_per_member_year_satang=36_500, co_funding_satang={"codi": 1_000_000})
    outcome = model.project(fund, years=5, runs=1000, seed=1)
    for year in range(5):
        assert set(outcome.reserve[year]) == {5_000_000 + (year + 1) * 4_650_000}
        assert set(outcome.members[year]) == {100}
        assert set(outcome.contributions[year]) == {3_650_000}
        assert set(outcome.co_funding[year]) == {1_000_000}
        assert set(outcome.benefits[year]) == {0}
    assert model.band(outcome.reserve[4]) == {"expected": 28_250_000, "p5": 28_250_000, "p50": 28_250_000, "p95": 28_250_000}


def test_money_moves_in_whole_satang_whatever_the_rates() -> None:
    """A contribution per member-year of 36,500.4 satang (a mean over income years) and a half-year
    of members dying: every run's contributions, benefits and reserve are whole satang each year."""
    death = model.BenefitLine("death", "death", model.empty_cells(), 2_000_000, on_death=True, take_up=0.37)
    q = model.empty_cells()
    q[0, 40] = 0.3
    fund = inputs(reserve_satang=5_000_001, members=cells(male_40=7), death_q=q,
                  contribution_per_member_year_satang=36_500.4, benefits=(death,))
    outcome = model.project(fund, years=3, runs=1000, seed=3)
    for figure in (outcome.contributions, outcome.benefits, outcome.reserve):
        assert (figure == figure.round()).all()
    assert (outcome.contributions[0] != 7 * 36_500.4).any(), "the half-years of those who died make fractions to round"


def test_a_cohort_that_all_dies_in_a_known_year_gives_the_floor_year() -> None:
    """Five members aged 106 with no chance of death until 109, where it is certain: they die in the
    fourth year. Contributions 36,500 satang a member-year: 182,500 a year, then half a year of five
    (91,250) in the year they die; the death benefit 2,000,000 each, 10,000,000 in all.
    Reserve: 10,000,000 -> 10,182,500 -> 10,365,000 -> 10,547,500 -> 638,750, under a floor of
    1,000,000 in the fourth year (and still in the fifth, with nobody left)."""
    q = model.empty_cells()
    q[:, 109:] = 1.0
    death = model.BenefitLine("death", "death", model.empty_cells(), 2_000_000, on_death=True)
    fund = inputs(reserve_satang=10_000_000, reserve_floor_satang=1_000_000, members=cells(male_106=5), death_q=q,
                  contribution_per_member_year_satang=36_500, benefits=(death,))
    outcome = model.project(fund, years=5, runs=1000, seed=7)
    expected = [10_182_500, 10_365_000, 10_547_500, 638_750, 638_750]
    assert [int(outcome.reserve[y].mean()) for y in range(5)] == expected
    assert [int(outcome.deaths[y].mean()) for y in range(5)] == [0, 0, 0, 5, 0]
    assert model.first_year_under(expected, 1_000_000, 2027) == 2030
    assert model.first_year_under(expected, 0, 2027) is None


def test_a_tiny_cohorts_expected_deaths_follow_its_death_probability() -> None:
    """1,000 men aged 70 with q = 0.02: 20 deaths expected in the first year, 19.6 in the second
    (980 x 0.02); over 1,000 runs the mean is within a few standard errors."""
    q = model.empty_cells()
    q[0, :] = 0.02
    outcome = model.project(inputs(members=cells(male_70=1000), death_q=q), years=2, runs=1000, seed=3)
    se = math.sqrt(1000 * 0.02 * 0.98 / 1000)
    assert abs(outcome.deaths[0].mean() - 20) < 5 * se
    assert abs(outcome.deaths[1].mean() - 19.6) < 5 * se + 0.2
    assert abs(outcome.members[0].mean() - 980) < 5 * se


def test_seeded_runs_are_reproducible_and_the_band_is_ordered() -> None:
    rate = model.empty_cells()
    rate[:, 60:] = 0.3
    q = model.empty_cells() + 0.01
    fund = inputs(reserve_satang=50_000_000, reserve_floor_satang=10_000_000, members=cells(male_65=300, female_62=400),
                  tenure=model.empty_cells() + 4, death_q=q, leave_q=0.02, new_members_per_year=30,
                  joiners=cells(female_30=1, male_35=1), contribution_per_member_year_satang=36_500,
                  co_funding_satang={"local_government": 2_000_000},
                  benefits=(model.BenefitLine("elderly", "elderly", rate, 30_000),
                            model.BenefitLine("death", "death", model.empty_cells(), tiers=((0, 300_000), (3, 500_000)), on_death=True)))
    one, again, other = (model.project(fund, years=10, runs=1000, seed=s) for s in (5, 5, 6))
    assert np.array_equal(one.reserve, again.reserve) and np.array_equal(one.members, again.members)
    assert not np.array_equal(one.reserve, other.reserve)
    for year in range(10):
        b = model.band(one.reserve[year])
        assert b["p5"] <= b["p50"] <= b["p95"] and b["p5"] <= b["expected"] <= b["p95"]
        assert b["p5"] < b["p95"], "the simulation varies"


def test_tiered_amounts_follow_the_years_of_membership() -> None:
    line = model.BenefitLine("death", "death", model.empty_cells(), tiers=((0, 300_000), (3, 500_000), (10, 2_000_000)), on_death=True)
    assert list(line.amounts(np.array([0.0, 2.9, 3.0, 9.99, 10.0, 40.0]))) == [300_000, 300_000, 500_000, 500_000, 2_000_000, 2_000_000]


# --- Inputs estimated from books written by hand -----------------------------------------------------


def roll_row(i: int, birth: str | None, sex: str = "male", joined: str = "2012-01-10", status: str = "active",
             since: str | None = None) -> dict[str, Any]:
    return {"member_id": f"m{i}", "birth_date": birth, "sex": sex, "joined_on": joined, "status": status,
            "status_since": since or joined}


def test_the_funds_own_death_rate_and_contributions_per_member_year() -> None:
    """100 men born in the 1950s, 4 of whom died during the look-back window: all in one age band,
    so the rate is the fund's overall one, 4 deaths over the member-years lived in the window."""
    as_of = dt.date(2026, 6, 30)
    window_start = dt.date(2026 - LOOK_BACK_YEARS, 6, 28)
    died_on = dt.date(2025, 6, 30)
    roll = [roll_row(i, "1952-01-01") for i in range(96)]
    roll += [roll_row(96 + i, "1952-01-01", status="deceased", since=died_on.isoformat()) for i in range(4)]
    books = Books(as_of=as_of, roll=roll, reserve_satang=1_000_000, reserve_floor_satang=0,
                  income_by_year={2024: {"members": 3_650_000, "codi": 500_000}, 2025: {"members": 3_650_000},
                                  2026: {"members": 99}},
                  plan=("day", 100), benefits=[])
    found = estimate(books, WhatIf())
    assert estimate(Books(**{**books.__dict__, "income_by_year": {**books.income_by_year, 2023: {"members": 1_000_000}}}),
                    WhatIf()).assumptions["income_years"] == [2024, 2025], "a year far under the others is not one of full books"
    exposure = 96 * (as_of - window_start).days / DAYS_A_YEAR + 4 * (died_on - window_start).days / DAYS_A_YEAR
    q = 1 - math.exp(-4 / exposure)
    assert found.mortality["basis"] == "fund_own" and "4 deaths" in found.mortality["source"]
    assert found.inputs.death_q[0, 74] == pytest.approx(q)
    assert found.inputs.death_q[1, 30] == pytest.approx(q), "no woman: the overall rate"
    # Income years 2024 and 2025 (complete, with members' contributions): 100 members all of 2024;
    # in 2025, 96 all year and 4 for the 180 days before June 30.
    exposure_2025 = 96 + 4 * 180 / 365
    assert found.inputs.contribution_per_member_year_satang == pytest.approx(7_300_000 / (100 + exposure_2025))
    assert found.inputs.co_funding_satang == {"codi": 250_000}, "the mean of the income years, 0 where none"
    assert found.assumptions["income_years"] == [2024, 2025]
    assert found.starting["members"] == 96
    stopped = estimate(books, WhatIf(stop_co_funding=("codi",), contribution_per_day_satang=200))
    assert stopped.inputs.co_funding_satang == {}
    collection = found.inputs.contribution_per_member_year_satang / 36_500
    assert stopped.inputs.contribution_per_member_year_satang == pytest.approx(73_000 * collection)


def test_members_without_a_birth_date_are_counted_and_spread_over_their_sexs_ages() -> None:
    roll = [roll_row(1, "1960-01-01", sex="female"), roll_row(2, "1980-01-01", sex="female"), roll_row(3, None, sex="female"),
            roll_row(4, None, sex="male")]
    found = estimate(Books(as_of=dt.date(2026, 6, 30), roll=roll, reserve_satang=0, reserve_floor_satang=0,
                           income_by_year={}, plan=None, benefits=[]), WhatIf())
    assert found.starting["members"] == 4 and found.starting["members_without_birth_date"] == 2
    women = found.inputs.members[1]
    assert women[66] == pytest.approx(1.5) and women[46] == pytest.approx(1.5)
    assert found.inputs.members[0].sum() == pytest.approx(1.0), "a man with no known age follows everyone's ages"


def test_claim_rates_respect_the_rules_in_force() -> None:
    """An elderly benefit from 60: 30 claims by the 30 members aged 70 over three years of look-back
    is about a third of a claim a member-year there, and none under 60, however many members."""
    as_of = dt.date(2026, 6, 30)
    roll = [roll_row(i, "1956-01-01") for i in range(30)] + [roll_row(30 + i, "1990-01-01") for i in range(70)]
    claims = [(f"m{i}", "elderly", "elderly", dt.date(2025, 3, 1), 30_000) for i in range(30)]
    rules = Rules.model_validate({"amount": {"model": "fixed", "amount_satang": 30_000}, "min_age": 60, "per_year_count": 1})
    books = Books(as_of=as_of, roll=roll, reserve_satang=0, reserve_floor_satang=0, income_by_year={}, plan=None,
                  benefits=[("elderly", "elderly", rules)], claims=claims)
    found = estimate(books, WhatIf())
    line = found.inputs.benefits[0]
    assert line.rate[:, :60].sum() == 0
    exposure = 30 * (as_of - dt.date(2023, 6, 28)).days / DAYS_A_YEAR
    assert line.rate[0, 70] == pytest.approx(30 / exposure)
    assert line.amount_satang == 30_000
    assert estimate(books, WhatIf(benefit=("elderly", 50_000))).inputs.benefits[0].amount_satang == 50_000


def test_joining_and_leaving_trends_come_from_the_look_back() -> None:
    """Over the three years up to as_of: 30 joined (10 a year, their ages at joining the joiners'
    ages), and 6 resigned out of the member-years lived."""
    as_of = dt.date(2026, 6, 30)
    window_start = dt.date(2023, 6, 28)
    roll = [roll_row(i, "1970-01-01") for i in range(100)]
    roll += [roll_row(100 + i, "2000-05-01", sex="female", joined="2025-01-10") for i in range(30)]
    roll += [roll_row(200 + i, "1960-01-01", status="resigned", since="2024-06-30") for i in range(6)]
    found = estimate(Books(as_of=as_of, roll=roll, reserve_satang=0, reserve_floor_satang=0, income_by_year={}, plan=None,
                           benefits=[]), WhatIf())
    years = (as_of - window_start).days / DAYS_A_YEAR
    assert found.inputs.new_members_per_year == pytest.approx(30 / years)
    assert found.inputs.joiners[1, 24] == 30 and found.inputs.joiners.sum() == 30, "women aged 24 when they joined"
    exposure = 100 * years + 30 * (as_of - dt.date(2025, 1, 10)).days / DAYS_A_YEAR + 6 * (dt.date(2024, 6, 30) - window_start).days / DAYS_A_YEAR
    assert found.inputs.leave_q == pytest.approx(1 - math.exp(-6 / exposure))
    assert estimate(Books(as_of=as_of, roll=roll, reserve_satang=0, reserve_floor_satang=0, income_by_year={}, plan=None, benefits=[]),
                    WhatIf(new_members_per_year=250)).inputs.new_members_per_year == 250


def test_a_tiered_benefits_what_if_scales_every_tier() -> None:
    rules = Rules.model_validate({"amount": {"model": "tiered", "tiers": [{"min_years": 0, "amount_satang": 300_000},
                                                                          {"min_years": 10, "amount_satang": 2_000_000}]}})
    books = Books(as_of=dt.date(2026, 6, 30), roll=[roll_row(1, "1950-01-01")], reserve_satang=0, reserve_floor_satang=0,
                  income_by_year={}, plan=None, benefits=[("death", "death", rules)])
    line = estimate(books, WhatIf(benefit=("death", 3_000_000))).inputs.benefits[0]
    assert line.on_death and line.tiers == ((0, 450_000), (10, 3_000_000))
    assert estimate(books, WhatIf()).inputs.benefits[0].tiers == ((0, 300_000), (10, 2_000_000))


# --- (b) The API: what-ifs, nothing written, bad parameters ------------------------------------------


class Fund:
    def __init__(self, books: Any, benefits: Any) -> None:
        self.books, self.benefits = books, benefits
        self.url = f"/v1/benefits/funds/{books.id}/projection"

    async def get(self, headers: dict[str, str] | None = None, **params: Any) -> Any:
        return await self.benefits.get(self.url, params=params, headers=headers or self.books.committee)


@pytest.fixture
async def fund(service_client, tokens) -> Fund:
    """20 members who joined in 2012, each saving 365 baht last year (with the collector still:
    not in the reserve), two co-funders last year, the nine template benefits, and elderly claims
    paid in the look-back window."""
    books = await make_books(service_client, tokens, members_count=0)
    benefits = await service_client("benefits")
    for i in range(20):
        birth = "1950-03-15" if i < 10 else "1985-03-15"
        created = await books.fund.register(person(900 + i, birth_date=birth, sex="female" if i % 2 else "male"))
        assert created.status_code == 201, created.text
        books.member_ids.append(created.json()["id"])
    assert (await books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 3650}, headers=books.admin)).status_code == 200
    deposits = [books.deposit(member=i, amount=36_500, at=dt.datetime(LAST_YEAR, 5, 1 + i, 17, 0, tzinfo=BANGKOK)) for i in range(20)]
    synced = (await books.post("/deposits/batch", {"deposits": deposits}, books.collector_headers)).json()
    assert synced["created"] == 20, synced
    for source, amount in (("codi", 2_000_000), ("local_government", 1_000_000)):
        posted = await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": source, "amount_satang": amount,
                                                  "received_on": f"{LAST_YEAR}-06-30", "into": "bank"})
        assert posted.status_code == 201, posted.text
    made = await benefits.post(f"/v1/benefits/funds/{books.id}/catalog/from-templates", json={"effective_from": "2000-01-01"},
                               headers=books.admin)
    assert made.status_code == 201, made.text
    async with benefits._transport.app.state.db.sessionmaker() as session, session.begin():
        for i in range(10):
            session.add(Claim(fund_id=uuid.UUID(books.id), member_id=uuid.UUID(books.member_ids[i]), benefit_code="elderly",
                              category="elderly", rule_version=1, event_date=TODAY - dt.timedelta(days=200), amount_satang=30_000,
                              status="paid", submitted_by="test", submitted_role="committee"))
    return Fund(books, benefits)


async def _counts(fund: Fund) -> tuple[int, ...]:
    fund_id = uuid.UUID(fund.books.id)
    async with fund.benefits._transport.app.state.db.sessionmaker() as session:
        benefits = tuple([await session.scalar(select(func.count()).select_from(t).where(t.fund_id == fund_id))
                          for t in (Benefit, RuleVersion, Claim, BenefitFund)])
        rules = await session.scalar(select(func.string_agg(text("rules::text"), text("','"))).select_from(RuleVersion)
                                     .where(RuleVersion.fund_id == fund_id))
    async with fund.books.ledger._transport.app.state.db.sessionmaker() as session:
        moved = await session.scalar(select(func.count()).select_from(Movement).where(Movement.fund_id == fund_id))
    return (*benefits, hash(rules), moved)


async def test_the_projection_answers_in_the_agreed_shape(fund: Fund) -> None:
    answer = await fund.get()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["years"] == 20 and body["runs"] == 1000 and body["first_year"] == TODAY.year + 1 and len(body["path"]) == 20
    assert body["mortality"]["basis"] == "fund_own" and body["mortality"]["source"] and body["mortality"]["note"]
    assert "อัตราการตายของสมาชิกกองทุนเอง" in body["mortality"]["note_th"]
    assert body["starting"]["reserve_satang"] == 3_000_000 and body["starting"]["members"] == 20
    assert body["starting"]["members_without_birth_date"] == 0
    first = body["path"][0]
    assert set(first) >= {"year", "members", "contributions_satang", "co_funding_satang", "benefits_satang", "reserve_satang",
                          "under_floor_share"}
    assert set(first["reserve_satang"]) == {"expected", "p5", "p50", "p95"} and set(first["members"]) == {"expected", "p5", "p95"}
    assert first["co_funding_satang"]["expected"] == 3_000_000
    assert first["benefits_by_code_satang"]["elderly"] > 0, "the elderly claims give the benefit a rate"
    assert body["first_year_under_floor"] is None or isinstance(body["first_year_under_floor"], int)
    assert (await fund.get()).json() == body, "the same books and the default seed give the same answer"


async def test_each_what_if_changes_what_it_should_and_nothing_is_written(fund: Fund) -> None:
    before = await _counts(fund)
    base = (await fund.get()).json()
    first = base["path"][0]

    stopped = (await fund.get(stop_co_funding=["codi"])).json()
    assert stopped["what_if"]["stop_co_funding"] == ["codi"]
    assert stopped["path"][0]["co_funding_satang"]["expected"] == 1_000_000
    assert stopped["path"][0]["benefits_satang"] == first["benefits_satang"], "the same seed: only co-funding moves"
    assert stopped["path"][-1]["reserve_satang"]["expected"] == base["path"][-1]["reserve_satang"]["expected"] - 20 * 2_000_000

    per_day = (await fund.get(contribution_per_day_satang=200)).json()
    assert per_day["what_if"]["contribution_per_day_satang"] == 200
    assert per_day["starting"]["contribution_per_member_year_satang"] == 73_000, "no plan: what members saved is all collected"
    assert per_day["path"][0]["contributions_satang"]["expected"] == 20 * 73_000
    assert first["contributions_satang"]["expected"] == 20 * 36_500

    joining = (await fund.get(new_members_per_year=50)).json()
    assert joining["path"][0]["members"]["expected"] in range(68, 73)
    assert first["members"]["expected"] == 20

    doubled = (await fund.get(benefit="elderly:60000")).json()
    assert doubled["what_if"]["benefit"] == "elderly" and doubled["what_if"]["benefit_amount_satang"] == 60_000
    assert doubled["path"][0]["benefits_by_code_satang"]["elderly"] == 2 * first["benefits_by_code_satang"]["elderly"]

    assert await _counts(fund) == before, "what-ifs write nothing"
    catalog = (await fund.benefits.get(f"/v1/benefits/funds/{fund.books.id}/catalog", headers=fund.books.committee)).json()
    elderly = next(b for b in catalog["items"] if b["code"] == "elderly")
    assert elderly["rules"]["rules"]["amount"]["amount_satang"] == 30_000


async def test_bad_parameters_are_problems_in_thai_or_english(fund: Fund) -> None:
    few = await fund.get(runs=10)
    assert few.status_code == 422 and few.headers["content-type"] == "application/problem+json"
    for params, code in (({"benefit": "elderly"}, "projection.benefit_invalid"), ({"benefit": "elderly:0"}, "projection.benefit_invalid"),
                         ({"benefit": "glasses:100"}, "projection.benefit_unknown"),
                         ({"stop_co_funding": ["donors"]}, "projection.source_unknown")):
        refused = await fund.get(**params)
        assert refused.status_code == 422 and refused.json()["code"] == code, (params, refused.text)
    thai = (await fund.get(benefit="glasses:100")).json()
    english = (await fund.get({**fund.books.committee, "Accept-Language": "en"}, benefit="glasses:100")).json()
    assert thai["title"] == "ไม่พบสวัสดิการ" and english["detail"] == "This fund has no benefit glasses with rules in force"
    source = (await fund.get({**fund.books.committee, "Accept-Language": "en"}, stop_co_funding=["donors"])).json()
    assert "codi, local_government" in source["detail"]
    odd = (await fund.get({**fund.books.committee, "Accept-Language": "en"}, stop_co_funding=["<b>x</b>"])).json()
    assert odd["code"] == "projection.source_unknown" and "<b>" not in odd["detail"]
    assert (await fund.get(years=0)).status_code == 422 and (await fund.get(runs=20_000)).status_code == 422
    large = await fund.get(years=50, runs=5_000)
    assert large.status_code == 422 and large.json()["code"] == "projection.too_large"


async def test_who_may_read_the_projection(fund: Fund, tokens) -> None:
    ok = {"committee": fund.books.committee, "admin": fund.books.admin,
          "platform": tokens.headers(Role.platform_admin), "ledger": tokens.service("ledger"), "gateway": tokens.service("gateway")}
    for who, headers in ok.items():
        assert (await fund.get(headers, years=2)).status_code == 200, who
    refused = {"member": fund.books.fund.as_(Role.member, member_id=fund.books.member_ids[0]),
               "collector": fund.books.collector_headers, "other fund": tokens.headers(Role.committee, fund_id=uuid.uuid4()),
               "grants service": tokens.service("grants"), "members service": tokens.service("members")}
    for who, headers in refused.items():
        assert (await fund.get(headers, years=2)).status_code == 403, who


# --- (d) Ban Song ------------------------------------------------------------------------------------


async def test_ban_songs_first_projected_year_starts_from_its_books_and_its_2019_income_mix(service_client, tokens) -> None:
    """Ban Song's 2019 income (members 1,312,175; local government 500,000; CODI 1,008,384; networks
    and donors 348,200 baht), its accumulated fund of 14,328,280.76 baht (the opening balance dated
    the end of 2018, as the demo books it): the projection starts from that reserve, and its first
    year's contributions and co-funding are 2019's, in 2019's shares (41.41, 31.82, 15.78, 10.99 %)."""
    from tools.demo import load_facts

    facts = load_facts()
    income = facts["ban_song"]["income_sources_2019"]
    baht = {k: int(v) for k, v in income.items() if k != "year_be"}
    books = await make_books(service_client, tokens, members_count=14)
    benefits = await service_client("benefits")
    assert (await books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 3650}, headers=books.admin)).status_code == 200
    deposits, left = [], baht["members"] * 100
    for i in range(14):
        amount = min(left, 10_000_000)
        deposits.append(books.deposit(member=i, amount=amount, at=dt.datetime(2019, 3, 1 + i, 17, 0, tzinfo=BANGKOK)))
        left -= amount
    synced = (await books.post("/deposits/batch", {"deposits": deposits}, books.collector_headers)).json()
    assert synced["created"] == 14, synced
    handed = await books.post("/handovers", {"id": str(uuid.uuid4()), "collector_id": books.collector,
                                             "amount_satang": baht["members"] * 100, "handed_over_on": "2019-12-31", "into": "bank"})
    assert handed.status_code == 201, handed.text
    for source, key in (("local_government", "local_government"), ("codi", "codi"), ("donors", "network_and_donors")):
        posted = await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": source, "amount_satang": baht[key] * 100,
                                                  "received_on": "2019-06-30", "into": "bank"})
        assert posted.status_code == 201, posted.text
    # As in the demo, a few members' daily deposits of last year, still with the collector: a year of
    # a few members' savings only, not a year of the fund's full books.
    few = [books.deposit(member=i, amount=100 * (1 + i), at=dt.datetime(LAST_YEAR, 8, 1 + i, 17, 0, tzinfo=BANGKOK)) for i in range(3)]
    assert (await books.post("/deposits/batch", {"deposits": few}, books.collector_headers)).json()["created"] == 3
    accumulated = int(Decimal(facts["ban_song"]["accumulated_baht"]) * 100)
    held = (await books.get("/reports/holdings")).json()["accumulated_satang"]
    opening = await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "other", "amount_satang": accumulated - held,
                                               "received_on": "2018-12-31", "into": "bank"})
    assert opening.status_code == 201, opening.text
    holdings = (await books.get("/reports/holdings")).json()
    assert holdings["accumulated_satang"] == accumulated and holdings["collectors_cash_satang"] == 600

    # The ledger's inputs are its own reports' figures: 2019's income as reports/sources sums it.
    inputs_now = (await books.get("/reports/projection-inputs", years=20)).json()
    sources_2019 = (await books.get("/reports/sources", **{"from": "2019-01-01", "to": "2019-12-31"})).json()
    assert next(y for y in inputs_now["income_by_year"] if y["year"] == 2019)["sources"] == {
        s["source"]: s["amount_satang"] for s in sources_2019["sources"]}
    answer = await benefits.get(f"/v1/benefits/funds/{books.id}/projection", headers=books.committee)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    reserve = holdings["fund_cash_satang"] + holdings["bank_satang"]
    assert body["starting"]["reserve_satang"] == reserve == accumulated - 600, \
        "the books it has: fund cash and bank, as a payout compares them with the floor (not the collector's 6 baht)"
    assert body["assumptions"]["income_years"] == [2019], "neither the opening balance of 2018 nor last year's few deposits"
    first = body["path"][0]
    contributions = first["contributions_satang"]["expected"]
    co_funding = body["starting"]["co_funding_per_year_satang"]
    assert contributions == baht["members"] * 100
    assert co_funding == {"codi": baht["codi"] * 100, "donors": baht["network_and_donors"] * 100,
                          "local_government": baht["local_government"] * 100}
    assert first["co_funding_satang"]["expected"] == sum(co_funding.values())
    total = contributions + sum(co_funding.values())
    assert [share_pct(contributions, total), share_pct(co_funding["codi"], total), share_pct(co_funding["local_government"], total),
            share_pct(co_funding["donors"], total)] == [41.41, 31.82, 15.78, 10.99]
    assert first["reserve_satang"]["expected"] == reserve + total - first["benefits_satang"]["expected"]


async def test_a_fund_that_does_not_exist_is_a_404(fund: Fund, tokens) -> None:
    url = f"/v1/benefits/funds/{uuid.uuid4()}/projection"
    missing = await fund.benefits.get(url, headers={**tokens.headers(Role.platform_admin), "Accept-Language": "en"})
    assert missing.status_code == 404 and missing.json()["code"] == "fund.not_found", missing.text
