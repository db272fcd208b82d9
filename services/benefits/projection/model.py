"""The sustainability projection's engine: pure, numpy-vectorised, from ``Inputs`` to ``Outcome``.

The fund is simulated by cohort, never per member: cells of (sex, age in whole years), ``SEXES x
AGES`` of them, and ``runs`` simulations side by side, so every quantity is an array of shape
``(runs, cells)`` or ``(runs,)``. Each projected year, in this order (docs/projection.md):

1. deaths in each cell, binomial with the cell's death probability;
2. leavers among those still alive, binomial with the fund's leaving probability;
3. new members, Poisson with the yearly mean, spread over the cells by the joiners' age and sex
   (multinomial); they join in the middle of the year: half a year of contributions, no claim
   and no death that year (the waiting periods of the rules);
4. contributions: members' exposure (those at the start less half of those who died or left)
   times the contribution per member-year, plus the joiners' half year;
5. co-funding: each source's yearly amount, the same every run;
6. benefits: a benefit paid on death (category ``death``) pays each death its amount; every other
   benefit's claims are Poisson with mean exposure x the cell's claim rate, drawn per group of
   cells that share an amount (one draw per run and group, not per cell);
7. the reserve moves by contributions + co-funding - benefits; survivors age one year; joiners
   are added.

The mean years of membership of each cell, which tiered amounts (the death benefit) depend on,
is carried as an expected value, not per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SEXES = ("male", "female")
#: Ages 0..MAX_AGE; a member who would pass it stays in the last cell.
MAX_AGE = 110
AGES = MAX_AGE + 1
CELLS = len(SEXES) * AGES


def empty_cells() -> np.ndarray:
    """An array of zeros by (sex, age)."""
    return np.zeros((len(SEXES), AGES), dtype=float)


@dataclass(frozen=True)
class BenefitLine:
    """One benefit of the catalog as the projection pays it."""

    code: str
    category: str
    #: Expected claims per member-year, by (sex, age); zero where the rules in force exclude the cell.
    rate: np.ndarray
    #: The amount of one claim (fixed, or the mean of the fund's claims for per-day benefits, to
    #: the satang).
    amount_satang: int = 0
    #: ``(min_years, amount_satang)`` for amounts tiered by years of membership, lowest first.
    tiers: tuple[tuple[int, int], ...] = ()
    #: Paid on every death of a member (the death benefit), instead of at ``rate``.
    on_death: bool = False
    #: Share of deaths that give a claim (on_death only).
    take_up: float = 1.0

    def amounts(self, tenure: np.ndarray) -> np.ndarray:
        """Amount of one claim by cell, for cells of ``tenure`` mean years of membership."""
        if not self.tiers:
            return np.full(tenure.shape, float(self.amount_satang))
        minimums = np.array([t for t, _ in self.tiers], dtype=float)
        values = np.array([a for _, a in self.tiers], dtype=float)
        index = np.searchsorted(minimums, np.floor(tenure + 1e-9), side="right") - 1
        return np.where(index >= 0, values[np.clip(index, 0, None)], 0.0)


@dataclass(frozen=True)
class Inputs:
    """Everything the projection needs, gathered (``inputs.py``) or written by hand (tests)."""

    first_year: int
    reserve_satang: int
    reserve_floor_satang: int
    #: Members at the start, by (sex, age).
    members: np.ndarray
    #: Their mean years of membership at the start, by (sex, age).
    tenure: np.ndarray
    #: Probability of dying within the year, by (sex, age).
    death_q: np.ndarray
    #: Probability that a member alive leaves within the year.
    leave_q: float = 0.0
    new_members_per_year: float = 0.0
    #: Joiners' distribution over (sex, age); sums to 1 when there are joiners.
    joiners: np.ndarray = field(default_factory=empty_cells)
    #: A mean over the income years (a rate, not an amount moved): each year's contributions, the
    #: amount moved, are rounded to the satang.
    contribution_per_member_year_satang: float = 0.0
    #: Co-funding per year by source.
    co_funding_satang: dict[str, int] = field(default_factory=dict)
    benefits: tuple[BenefitLine, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """Every run's figures, year by year: arrays of shape (years, runs)."""

    first_year: int
    members: np.ndarray
    contributions: np.ndarray
    co_funding: np.ndarray
    benefits: np.ndarray
    reserve: np.ndarray
    deaths: np.ndarray
    #: Benefits paid by benefit code, summed over runs then divided by runs: (years,) each.
    benefits_by_code: dict[str, np.ndarray]


def project(inputs: Inputs, *, years: int, runs: int, seed: int) -> Outcome:
    """Simulate ``runs`` futures of ``years`` years from ``inputs`` with a PCG64 generator seeded
    with ``seed``: the same inputs and seed give the same figures."""
    rng = np.random.Generator(np.random.PCG64(seed))
    start = np.rint(inputs.members.reshape(-1)).astype(np.int64)
    alive = np.broadcast_to(start, (runs, CELLS)).copy()
    tenure = inputs.tenure.reshape(-1).astype(float).copy()
    expected = start.astype(float)
    death_q = np.clip(inputs.death_q.reshape(-1).astype(float), 0.0, 1.0)
    leave_q = float(np.clip(inputs.leave_q, 0.0, 1.0))
    joiner_p = inputs.joiners.reshape(-1).astype(float)
    joiner_p = joiner_p / joiner_p.sum() if joiner_p.sum() > 0 else joiner_p
    per_member = float(inputs.contribution_per_member_year_satang)
    co_funding = float(sum(inputs.co_funding_satang.values()))
    lines = [(b, b.rate.reshape(-1).astype(float)) for b in inputs.benefits]
    # Money moves in whole satang: each year's contributions and each benefit's cost are rounded
    # to the satang in every run before the reserve takes them.
    reserve = np.full(runs, inputs.reserve_satang, dtype=np.int64)

    shape = (years, runs)
    out = {k: np.zeros(shape) for k in ("members", "contributions", "co_funding", "benefits", "reserve", "deaths")}
    by_code = {b.code: np.zeros(years) for b in inputs.benefits}
    for year in range(years):
        deaths = rng.binomial(alive, death_q) if death_q.any() else np.zeros_like(alive)
        survivors = alive - deaths
        leavers = rng.binomial(survivors, leave_q) if leave_q > 0 else np.zeros_like(alive)
        exposure = alive - 0.5 * (deaths + leavers)
        if inputs.new_members_per_year > 0 and joiner_p.sum() > 0:
            joined_count = rng.poisson(inputs.new_members_per_year, size=runs)
            joined = rng.multinomial(joined_count, joiner_p)
        else:
            joined_count = np.zeros(runs, dtype=np.int64)
            joined = np.zeros_like(alive)
        contributions = np.rint((exposure.sum(axis=1) + 0.5 * joined_count) * per_member).astype(np.int64)
        paid = np.zeros(runs, dtype=np.int64)
        for line, rate in lines:
            amounts = line.amounts(tenure)
            if line.on_death:
                cost = np.rint((deaths * amounts).sum(axis=1) * line.take_up).astype(np.int64)
            else:
                cost = np.zeros(runs, dtype=np.int64)
                for amount in np.unique(amounts[rate > 0]):
                    cells = (rate > 0) & (amounts == amount)
                    mean = exposure[:, cells] @ rate[cells]
                    cost += rng.poisson(np.maximum(mean, 0.0)) * np.int64(amount)
            paid += cost
            by_code[line.code][year] = cost.mean()
        reserve = reserve + contributions + co_funding - paid

        staying = survivors - leavers
        aged = np.zeros_like(staying)
        aged_view, staying_view = aged.reshape(runs, len(SEXES), AGES), staying.reshape(runs, len(SEXES), AGES)
        aged_view[:, :, 1:] = staying_view[:, :, :-1]
        aged_view[:, :, -1] += staying_view[:, :, -1]
        alive = aged + joined

        # Mean years of membership by cell, as expected values: survivors one year more, joiners none.
        stay_expected = (expected * (1 - death_q) * (1 - leave_q)).reshape(len(SEXES), AGES)
        tenure_sum = ((tenure + 1) * stay_expected.reshape(-1)).reshape(len(SEXES), AGES)
        shifted_n, shifted_t = np.zeros((len(SEXES), AGES)), np.zeros((len(SEXES), AGES))
        shifted_n[:, 1:], shifted_t[:, 1:] = stay_expected[:, :-1], tenure_sum[:, :-1]
        shifted_n[:, -1] += stay_expected[:, -1]
        shifted_t[:, -1] += tenure_sum[:, -1]
        joiners_expected = (inputs.new_members_per_year * joiner_p).reshape(len(SEXES), AGES)
        expected_next = shifted_n + joiners_expected
        with np.errstate(invalid="ignore", divide="ignore"):
            tenure = np.where(expected_next > 0, shifted_t / np.where(expected_next > 0, expected_next, 1), 0.0).reshape(-1)
        expected = expected_next.reshape(-1)

        out["members"][year] = alive.sum(axis=1)
        out["contributions"][year] = contributions
        out["co_funding"][year] = co_funding
        out["benefits"][year] = paid
        out["reserve"][year] = reserve
        out["deaths"][year] = deaths.sum(axis=1)
    return Outcome(first_year=inputs.first_year, benefits_by_code=by_code, **out)


def band(values: np.ndarray) -> dict[str, int]:
    """Mean (rounded, ``expected``), 5th, 50th and 95th percentiles over runs of one year's figure."""
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return {"expected": int(round(float(values.mean()))), "p5": int(round(float(p5))), "p50": int(round(float(p50))),
            "p95": int(round(float(p95)))}


def first_year_under(series: list[int], floor: int, first_year: int) -> int | None:
    """The calendar year of the first figure of ``series`` under ``floor``, or None."""
    for offset, value in enumerate(series):
        if value < floor:
            return first_year + offset
    return None
