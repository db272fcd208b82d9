"""Demo data for a running Sajja (``make run`` in another terminal), loaded through the public API.

    make demo                                    # full figures
    .venv/bin/python -m tools.demo --scale 0.01  # 1% of the members, for a quick look or a test

What it loads, all through the gateway with the same calls front ends make:

- The ten funds of the source table (``tools/data/source_facts.json``), in networks by province, with exactly the members, accumulated fund
  and coverage of the source's table: each roll is imported as a CSV (valid, made-up people with
  national IDs unique across all funds), and each population is the one that gives the printed
  percentage with those members (null where the source has none). The source gives each fund's
  province and founding year only: the day is taken as 1 January (Ban Song: 1 May 2010, from its case study)
  and the district as "ไม่ระบุ" (not stated) except Ban Song's (เวียงสระ, from the case study) and Chawang's.
- Ban Song's 2019 income by source (its case study): members' contributions of 1,312,175 baht as a
  year's deposits (committee posting them from the paper books, collector named), handed over to
  the bank month by month; local government 500,000, CODI 1,008,384 and donors 348,200 baht as
  co-funding. The fund's late-deposit window is widened to ten years for this.
- A year of daily deposits (one baht a day, some members two) by Ban Song's two collectors for six
  members of their rounds, synced from their phones once a week and handed over to the treasurer
  the week after; the last week's cash is still in their hands. A plan of 30 baht a month with three months' grace, so some
  members are in arrears.
- Benefit claims in every state at Ban Song: paid (three, one with a medical certificate),
  submitted, under review, rejected, cancelled, and approved with its payout held by the reserve
  floor.
- Nakhon Si Thammarat's 2008 grants (the province's 2008 plan): the target-areas program of 5,304,672 baht for the
  province with CODI's 55,000 baht per tambon fund as the ceiling, and the issue-based program of
  2,000,000 baht. Chawang applies to both: the first is screened by two grant officers, awarded in
  two tranches, the first disbursed (and posted to Chawang's ledger by the grants worker), the
  second waiting for a progress report; the second application is still being screened.
- Then the accumulated fund: what each fund's ledger holds after all this is topped up to the
  source's figure by one opening balance (ยอดเงินกองทุนสะสมยกมา), posted as ``other`` co-funding dated
  31 December of last year (Ban Song's 31 December 2018, before the 2019 figures). Funds with no
  figure in the source get no money at all, so their accumulated fund stays unknown (null), not 0.

Admin credentials come from ``SAJJA_DEMO_PHONE`` and ``SAJJA_DEMO_PASSWORD``, by default the
development login that ``make run`` gives its first admin (``gateway.settings.DEV_ADMIN_PHONE`` and
``DEV_ADMIN_PASSWORD``, in the README); the gateway from ``SAJJA_DEMO_URL`` (default
http://127.0.0.1:8000). Demo staff get one password,
``SAJJA_DEMO_USER_PASSWORD`` or a random one, printed at the end with their phones. The loader
refuses, changing nothing, when any of the ten funds already exists: load it into a fresh system.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import struct
import sys
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from gateway.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_PHONE
from services.members.thai import national_id_check_digit
from shared.figures import BE_OFFSET, coverage_pct

BANGKOK = ZoneInfo("Asia/Bangkok")
#: The source documents' figures, kept in the repository as its own data (each part names its document).
SOURCE_FACTS = Path(__file__).resolve().parent / "data" / "source_facts.json"


def load_facts(path: Path = SOURCE_FACTS) -> dict[str, Any]:
    """The figures the demo loads and the tests check against (``tools/data/source_facts.json``)."""
    return json.loads(path.read_text(encoding="utf-8"))

B = 100  # satang per baht
BATCH = 500
EXIT_ALREADY_LOADED = 3
UUID_IN_PATH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: Districts the sources give (the Ban Song case study; Chawang's tambon is its district's seat).
DISTRICTS = {"บ้านส้อง": "เวียงสระ", "ฉวาง": "ฉวาง"}
UNSTATED = "ไม่ระบุ"

FIRST_NAMES_F = ("สมศรี", "มาลี", "บุญมา", "สุดา", "จันทร์เพ็ญ", "ละเอียด", "ประไพ", "อำไพ", "สมใจ", "นงลักษณ์",
                 "วันเพ็ญ", "บัวผัน", "ทองใบ", "เยาวลักษณ์", "กาญจนา", "ศรีสุดา", "พิมพ์ใจ", "ลำดวน")
FIRST_NAMES_M = ("สมชาย", "บุญมี", "ประเสริฐ", "สมศักดิ์", "วิชัย", "สุชาติ", "ทองดี", "อนันต์", "มานพ", "สมพงษ์",
                 "ประยูร", "เกษม", "ชาญ", "ไพโรจน์", "บุญเรือง", "สุรินทร์", "ณรงค์", "เฉลิม")
LAST_NAMES = ("ใจดี", "ศรีสุข", "บุญมาก", "ทองคำ", "แก้วมณี", "สุขสวัสดิ์", "รักษ์ไทย", "มีสุข", "พรหมมา", "ชัยมงคล",
              "ศรีวงศ์", "บุญยืน", "เพชรรัตน์", "สายทอง", "นาคสวัสดิ์", "อินทร์แก้ว", "คงเจริญ", "วงศ์ใหญ่", "จันทร์หอม",
              "ทองมา", "ปัญญาดี", "สุวรรณ", "รุ่งเรือง")


class DemoError(RuntimeError):
    pass


class CannotLogIn(DemoError):
    pass


def log(message: str) -> None:
    print(message, flush=True)


# --- The plan: what the source says, as funds and people ------------------------------------------


def baht_to_satang(value: str | None) -> int | None:
    return None if value is None else int(Decimal(value) * 100)


def population_for(members: int, pct: float) -> int:
    """A population that gives exactly ``pct`` with these members (nearest to members / pct)."""
    guess = round(members * 100 / pct)
    for delta in sorted(range(-200, 201), key=abs):
        if guess + delta > 0 and coverage_pct(members, guess + delta) == pct:
            return guess + delta
    raise DemoError(f"no population gives {pct}% with {members} members")


@dataclass
class FundPlan:
    no: int
    name: str
    province: str
    founded_be: int
    accumulated_satang: int | None
    members: int
    coverage_pct: float | None
    population: int | None
    founded_on: dt.date
    tambon: str
    district: str
    #: Filled as the demo goes.
    id: str = ""
    network_id: str | None = None


def plan_funds(facts: dict[str, Any], scale: float) -> list[FundPlan]:
    ban_song = facts["ban_song"]
    plans = []
    for no, name, province, founded_be, accumulated, members, pct in facts["funds_table"]["rows"]:
        tambon = name.removeprefix("กองทุนสวัสดิการชุมชนตำบล")
        population = None
        if pct is not None:
            population = ban_song["tambon_population"] if tambon == "บ้านส้อง" else population_for(members, pct)
            if coverage_pct(members, population) != pct:
                raise DemoError(f"{name}: population {population} does not give {pct}%")
        founded_on = (dt.date.fromisoformat(ban_song["founded_on"]) if tambon == "บ้านส้อง"
                      else dt.date(founded_be - BE_OFFSET, 1, 1))
        count = members if scale >= 1 else max(12 if tambon == "บ้านส้อง" else 1, round(members * scale))
        plans.append(FundPlan(no=no, name=name, province=province, founded_be=founded_be,
                              accumulated_satang=baht_to_satang(accumulated), members=count, coverage_pct=pct,
                              population=population, founded_on=founded_on, tambon=tambon,
                              district=DISTRICTS.get(tambon, UNSTATED)))
    return plans


@dataclass
class Person:
    national_id: str
    title: str
    first_name: str
    last_name: str
    birth_date: dt.date
    sex: str
    village: int
    house_no: str
    phone: str | None
    joined_on: dt.date


def people(fund_no: int, count: int, joined_from: dt.date, joined_to: dt.date, villages: int) -> list[Person]:
    """``count`` made-up members of fund ``fund_no``; national IDs 5<fund no><serial>, so no
    person is in two funds (one person may be a current member of one fund only)."""
    span = max(1, (joined_to - joined_from).days)
    made = []
    for i in range(count):
        first12 = f"5{fund_no:02d}{i:09d}"
        female = i % 2 == 0
        birth = dt.date(1938 + (i * 7) % 66, 1 + i % 12, 1 + (i * 5) % 28)
        joined = max(joined_from + dt.timedelta(days=(i * 37) % span), birth + dt.timedelta(days=1))
        made.append(Person(
            national_id=first12 + str(national_id_check_digit(first12)),
            title=("นาง" if i % 4 == 0 else "นางสาว") if female else "นาย",
            first_name=(FIRST_NAMES_F if female else FIRST_NAMES_M)[(i // 2) % 18],
            last_name=LAST_NAMES[(i * 7 + fund_no) % len(LAST_NAMES)],
            birth_date=birth, sex="หญิง" if female else "ชาย", village=1 + i % villages,
            house_no=f"{1 + (i // villages) % 250}", phone=f"08{fund_no:02d}{i:06d}" if i % 3 else None,
            joined_on=joined,
        ))
    return made


def roll_csv(persons: list[Person]) -> bytes:
    """The roll as a fund exports it from Excel: Thai headers, Buddhist Era dates."""
    lines = ["เลขประจำตัวประชาชน,คำนำหน้า,ชื่อ,นามสกุล,วันเกิด,เพศ,โทรศัพท์,หมู่ที่,บ้านเลขที่,วันที่สมัคร"]
    for p in persons:
        lines.append(f"{p.national_id},{p.title},{p.first_name},{p.last_name},{p.birth_date:%d/%m}/{p.birth_date.year + BE_OFFSET},"
                     f"{p.sex},{p.phone or ''},{p.village},{p.house_no},{p.joined_on:%d/%m}/{p.joined_on.year + BE_OFFSET}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def yearly_contributions(total_satang: int, members: int) -> list[int]:
    """Each member's contributions in a year, adding up to ``total_satang``: most saved 365 baht,
    the others (who joined or fell behind) 240, one the remainder; evenly when that cannot fit."""
    full, part = 365 * B, 240 * B
    if part * members <= total_satang <= full * members and members > 1:
        savers = (total_satang - part * (members - 1)) // (full - part)
        savers = min(savers, members - 1)
        amounts = [full] * savers + [part] * (members - 1 - savers)
        amounts.append(total_satang - sum(amounts))
        if 0 < amounts[-1]:
            return amounts
    share, rest = divmod(total_satang, members)
    return [share + (1 if i < rest else 0) for i in range(members)]


# --- Talking to the gateway ----------------------------------------------------------------------


@dataclass
class Actor:
    """Someone the demo acts as: logs in when first needed and again when the token expires."""

    phone: str
    password: str
    name: str
    id: str = ""
    token: str = ""


class Api:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=180)
        self.calls = 0
        #: Seconds spent per kind of call (method and path with ids left out), for the summary.
        self.seconds: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def close(self) -> None:
        self.http.close()

    def login(self, actor: Actor) -> None:
        answer = self.http.post("/v1/auth/login", json={"phone": actor.phone, "password": actor.password})
        if answer.status_code != 200:
            raise CannotLogIn(f"cannot log in as {actor.name} ({actor.phone}): {answer.status_code} {answer.text[:300]}")
        actor.token = answer.json()["access_token"]

    def call(self, actor: Actor, method: str, path: str, *, expect: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        if not actor.token:
            self.login(actor)
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {actor.token}", **kwargs.get("headers", {})}
            started = time.perf_counter()
            answer = self.http.request(method, path, **{**kwargs, "headers": headers})
            kind = self.seconds[f"{method} {UUID_IN_PATH.sub('{id}', path)}"]
            kind[0] += 1
            kind[1] += time.perf_counter() - started
            self.calls += 1
            if answer.status_code == 401 and attempt == 0:
                self.login(actor)
                continue
            if answer.status_code not in expect:
                raise DemoError(f"{method} {path} as {actor.name}: {answer.status_code} {answer.text[:600]}")
            return answer.json() if answer.content and "json" in answer.headers.get("content-type", "") else None
        raise AssertionError("unreachable")


# --- The demo -----------------------------------------------------------------------------------------


@dataclass
class Loaded:
    """What the demo made, for the summary and for tests."""

    funds: list[FundPlan]
    users: dict[str, Actor] = field(default_factory=dict)
    network_ids: dict[str, str] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)
    deposit_ids: list[str] = field(default_factory=list)
    programs: dict[str, str] = field(default_factory=dict)
    applications: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    calls: int = 0


class Demo:
    def __init__(self, *, url: str, phone: str, password: str, scale: float = 1.0, user_password: str | None = None,
                 facts_path: Path = SOURCE_FACTS, say: Callable[[str], None] = log) -> None:
        self.api = Api(url)
        self.url = url.rstrip("/")
        self.admin = Actor(phone, password, "platform admin")
        self.scale = scale
        self.user_password = user_password or f"demo-{secrets.token_urlsafe(9)}"
        self.facts = load_facts(facts_path)
        self.say = say
        self.today = dt.datetime.now(BANGKOK).date()
        self.loaded = Loaded(funds=plan_funds(self.facts, scale))
        self._phone_seq = 0
        self.ban_song_people: list[Person] = []
        self.members: list[dict[str, Any]] = []
        self.round: list[dict[str, Any]] = []
        self._started = time.perf_counter()

    # -- helpers --

    def step(self, message: str) -> None:
        self.say(f"[{time.perf_counter() - self._started:6.1f} s] {message}")

    def user(self, key: str, name: str, role: str, **scope: Any) -> Actor:
        self._phone_seq += 1
        actor = Actor(f"09{self._phone_seq + 20_000_000:08d}", self.user_password, name)
        made = self.api.call(self.admin, "POST", "/v1/auth/users", json={
            "phone": actor.phone, "password": actor.password, "display_name": name, "role": role,
            **{k: str(v) for k, v in scope.items()}})
        actor.id = made["id"]
        self.loaded.users[key] = actor
        return actor

    def fund(self, tambon: str) -> FundPlan:
        return next(f for f in self.loaded.funds if f.tambon == tambon)

    def at(self, day: dt.date, hour: int = 18, minute: int = 0) -> str:
        return dt.datetime.combine(day, dt.time(hour, minute), BANGKOK).isoformat()

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise DemoError(f"gave up waiting for {what} after {timeout:.0f} s")
            time.sleep(0.5)

    # -- the run --

    def run(self) -> Loaded:
        try:
            self.refuse_if_loaded()
            self.networks_and_funds()
            self.ban_song_books()
            self.ban_song_collectors()
            self.ban_song_claims()
            self.chawang_grants()
            self.opening_balances()
        finally:
            self.loaded.calls = self.api.calls
            self.api.close()
        self.loaded.seconds = time.perf_counter() - self._started
        return self.loaded

    def refuse_if_loaded(self) -> None:
        names = {f.name for f in self.loaded.funds}
        cursor: str | None = None
        while True:
            page = self.api.call(self.admin, "GET", "/v1/members/funds", params={"limit": 500, **({"cursor": cursor} if cursor else {})})
            found = sorted(names & {f["name"] for f in page["items"]})
            if found:
                raise AlreadyLoaded(found)
            cursor = page["next_cursor"]
            if not cursor:
                return

    def networks_and_funds(self) -> None:
        self.step(f"networks and the ten funds of the source table (scale {self.scale:g})")
        for province in sorted({f.province for f in self.loaded.funds}):
            network = self.api.call(self.admin, "POST", "/v1/members/networks", json={
                "name_th": f"เครือข่ายกองทุนสวัสดิการชุมชนจังหวัด{province}", "province": province})
            self.loaded.network_ids[province] = network["id"]
        for plan in self.loaded.funds:
            plan.network_id = self.loaded.network_ids[plan.province]
            made = self.api.call(self.admin, "POST", "/v1/members/funds", json={
                "name": plan.name, "kind": "tambon", "province": plan.province, "district": plan.district,
                "subdistrict": plan.tambon, "founded_on": plan.founded_on.isoformat(), "population": plan.population,
                "network_id": plan.network_id})
            plan.id = made["id"]

        def import_roll(plan: FundPlan) -> list[Person]:
            joined_to = dt.date(2018, 12, 31) if plan.tambon == "บ้านส้อง" else self.today - dt.timedelta(days=400)
            persons = people(plan.no, plan.members, plan.founded_on, joined_to, 17 if plan.tambon == "บ้านส้อง" else 12)
            started = time.perf_counter()
            result = self.api.call(self.admin, "POST", f"/v1/members/funds/{plan.id}/members/import",
                                   params={"consent_attested": "true"}, content=roll_csv(persons),
                                   headers={"Content-Type": "text/csv; charset=utf-8"})
            if result["created"] != plan.members or result["rejected"]:
                raise DemoError(f"{plan.name}: imported {result['created']} of {plan.members}: {result['problems'][:3]}")
            self.step(f"  {plan.name}: {plan.members:,} members imported in {time.perf_counter() - started:.1f} s")
            return persons

        # Two rolls at a time: the members service checks one while PostgreSQL writes the other.
        with ThreadPoolExecutor(max_workers=2) as pool:
            rolls = dict(zip((p.tambon for p in self.loaded.funds), pool.map(import_roll, self.loaded.funds), strict=True))
        self.ban_song_people = rolls["บ้านส้อง"]
        self.user("network_officer", "เจ้าหน้าที่เครือข่ายมหาสารคาม", "network_officer",
                  network_id=self.loaded.network_ids["มหาสารคาม"])
        for plan in self.loaded.funds:
            if plan.accumulated_satang is not None:
                self.user(f"admin:{plan.tambon}", f"ผู้ดูแลกองทุน{plan.tambon}", "fund_admin", fund_id=plan.id)

    def member_ids(self, plan: FundPlan) -> list[dict[str, Any]]:
        members: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.api.call(self.admin, "GET", f"/v1/members/funds/{plan.id}/members",
                                 params={"limit": 500, "status": "active", **({"cursor": cursor} if cursor else {})})
            members += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return sorted(members, key=lambda m: m["member_no"])

    def member_by_national_id(self, plan: FundPlan, national_id: str) -> str:
        page = self.api.call(self.admin, "GET", f"/v1/members/funds/{plan.id}/members", params={"q": national_id})
        if len(page["items"]) != 1:
            raise DemoError(f"{plan.name}: no single member with national ID {national_id}")
        return page["items"][0]["id"]

    def ban_song_books(self) -> None:
        plan = self.fund("บ้านส้อง")
        admin = self.loaded.users["admin:บ้านส้อง"]
        self.committee_a = self.user("committee_a", "กรรมการ (เหรัญญิก) บ้านส้อง", "committee", fund_id=plan.id)
        self.committee_b = self.user("committee_b", "ประธานกรรมการ บ้านส้อง", "committee", fund_id=plan.id)
        self.collectors = [self.user(f"collector_{i}", name, "collector", fund_id=plan.id)
                           for i, name in enumerate(("อาสาสมัคร หมู่ 1", "อาสาสมัคร หมู่ 2"), start=1)]
        self.api.call(admin, "PATCH", f"/v1/ledger/funds/{plan.id}/rules", json={"late_window_days": 3650})
        self.members = self.member_ids(plan)
        round_size = max(2, round(6 * self.scale)) if self.scale < 1 else 6
        self.round = self.members[:round_size]
        half = len(self.round) // 2
        for i, collector in enumerate(self.collectors):
            mine = self.round[:half] if i == 0 else self.round[half:]
            self.api.call(self.committee_a, "POST", f"/v1/members/funds/{plan.id}/collectors", json={
                "user_id": collector.id, "display_name": collector.name, "villages": [],
                "member_ids": [m["id"] for m in mine]})
        self.round_of = {m["id"]: self.collectors[0 if n < half else 1] for n, m in enumerate(self.round)}

        income = self.facts["ban_song"]["income_sources_2019"]
        self.step("Ban Song's 2019: members' contributions as deposits, monthly handovers, co-funding")
        members_satang = baht_to_satang(income["members"])
        assert members_satang is not None  # the fact is there
        amounts = yearly_contributions(members_satang, len(self.members))
        chunk = 5_000_000  # at most 50,000 baht a deposit (the ledger takes up to 100,000)
        deposits: list[dict[str, Any]] = []
        by_month: dict[int, int] = defaultdict(int)
        for n, (member, amount) in enumerate(zip(self.members, amounts, strict=True)):
            day = dt.date(2019, 1, 1) + dt.timedelta(days=n % 365)
            while amount > 0:
                piece = min(amount, chunk)
                deposits.append({"id": str(uuid.uuid4()), "member_id": member["id"], "amount_satang": piece,
                                 "collected_at": self.at(day, 10), "collector_id": self.collectors[0].id})
                by_month[day.month] += piece
                amount -= piece
                day += dt.timedelta(days=1) if day < dt.date(2019, 12, 31) else dt.timedelta(0)
        self.post_deposits(self.committee_a, plan, deposits)
        for month, total in sorted(by_month.items()):
            last_day = (dt.date(2019, month % 12 + 1, 1) if month < 12 else dt.date(2020, 1, 1)) - dt.timedelta(days=1)
            self.api.call(self.committee_a, "POST", f"/v1/ledger/funds/{plan.id}/handovers", json={
                "id": str(uuid.uuid4()), "collector_id": self.collectors[0].id, "amount_satang": total,
                "handed_over_on": last_day.isoformat(), "into": "bank",
                "reference": f"เงินสัจจะเดือน {month}/{2019 + BE_OFFSET}"})
        for source, key, received_on, reference in (
            ("local_government", "local_government", "2019-03-15", "เงินสมทบจากเทศบาลตำบลบ้านส้อง ปี 2562"),
            ("codi", "codi", "2019-06-28", "เงินสมทบจากรัฐผ่าน พอช. ปี 2562"),
            ("donors", "network_and_donors", "2019-11-17", "ทอดผ้าป่าสวัสดิการชุมชนและเครือข่ายภาคี ปี 2562"),
        ):
            self.api.call(self.committee_a, "POST", f"/v1/ledger/funds/{plan.id}/co-funding", json={
                "id": str(uuid.uuid4()), "source": source, "amount_satang": baht_to_satang(income[key]),
                "received_on": received_on, "reference": reference, "into": "bank"})
        plan_start = self.today - dt.timedelta(days=365)
        self.api.call(self.committee_a, "POST", f"/v1/ledger/funds/{plan.id}/plans", json={
            "name": "สัจจะเดือนละ 30 บาท", "period": "month", "amount_satang": 30 * B,
            "effective_from": dt.date(plan_start.year, plan_start.month, 1).isoformat(), "grace_periods": 3})

    def post_deposits(self, actor: Actor, plan: FundPlan, deposits: list[dict[str, Any]]) -> None:
        for start in range(0, len(deposits), BATCH):
            batch = deposits[start:start + BATCH]
            result = self.api.call(actor, "POST", f"/v1/ledger/funds/{plan.id}/deposits/batch", json={"deposits": batch})
            if result["created"] + result["duplicates"] != len(batch):
                bad = [r for r in result["results"] if r["status"] == "rejected"][:3]
                raise DemoError(f"{plan.name}: deposits rejected: {bad}")
        self.loaded.deposit_ids += [d["id"] for d in deposits[-3:]]

    def ban_song_collectors(self) -> None:
        """A year of daily deposits, synced weekly from the collectors' phones; handed over weekly."""
        plan = self.fund("บ้านส้อง")
        first, last = self.today - dt.timedelta(days=365), self.today - dt.timedelta(days=1)
        self.step(f"a year of daily deposits by Ban Song's collectors ({len(self.round)} members, weekly syncs)")
        weeks: dict[tuple[str, dt.date], list[dict[str, Any]]] = defaultdict(list)
        day = first
        while day <= last:
            week_end = day + dt.timedelta(days=6 - day.weekday())
            for n, member in enumerate(self.round):
                if (day.toordinal() + n) % 9 == 0:  # nobody is home every day
                    continue
                collector = self.round_of[member["id"]]
                weeks[(collector.id, week_end)].append({
                    "id": str(uuid.uuid4()), "member_id": member["id"], "amount_satang": (2 if n % 3 == 0 else 1) * B,
                    "collected_at": self.at(day, 17, n % 60)})
            day += dt.timedelta(days=1)
        by_id = {c.id: c for c in self.collectors}
        final_week = max(week_end for _, week_end in weeks)
        for (collector_id, week_end), deposits in sorted(weeks.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            self.post_deposits(by_id[collector_id], plan, deposits)
            if week_end < final_week:
                self.api.call(self.committee_a, "POST", f"/v1/ledger/funds/{plan.id}/handovers", json={
                    "id": str(uuid.uuid4()), "collector_id": collector_id,
                    "amount_satang": sum(d["amount_satang"] for d in deposits),
                    "handed_over_on": min(week_end + dt.timedelta(days=1), last).isoformat(), "into": "bank",
                    "reference": f"ส่งเงินสัปดาห์ถึง {week_end.isoformat()}"})

    def ban_song_claims(self) -> None:
        plan = self.fund("บ้านส้อง")
        admin = self.loaded.users["admin:บ้านส้อง"]
        self.step("Ban Song's benefit claims in every state")
        self.api.call(admin, "POST", f"/v1/benefits/funds/{plan.id}/catalog/from-templates", json={"effective_from": "2019-01-01"})
        base = f"/v1/benefits/funds/{plan.id}/claims"
        persons = self.ban_song_people
        # Members by national ID (not by position): the elderly, and savers not in arrears.
        elderly = next(p for p in persons if (self.today - p.birth_date).days > 66 * 365)
        others = [p for p in persons if p is not elderly]

        def member(p: Person) -> str:
            return self.member_by_national_id(plan, p.national_id)

        def claim(key: str, who: str, code: str, event: dt.date, **extra: Any) -> str:
            made = self.api.call(self.committee_a, "POST", base, json={
                "id": str(uuid.uuid4()), "member_id": who, "benefit_code": code, "event_date": event.isoformat(), **extra})
            self.loaded.claims[key] = made["id"]
            return made["id"]

        def act(key: str, actor: Actor, action: str, **body: Any) -> None:
            self.api.call(actor, "POST", f"{base}/{self.loaded.claims[key]}/{action}", json=body or None)

        recent = self.today - dt.timedelta(days=20)
        claim("paid_elderly", member(elderly), "elderly", recent)
        claim("paid_education", member(others[0]), "education", recent, details="ทุนการศึกษาบุตร ชั้นมัธยม")
        sick_member = self.round[1]["id"]
        sick = claim("paid_sickness", sick_member, "sickness_medical", recent - dt.timedelta(days=4),
                     event_end_date=(recent - dt.timedelta(days=2)).isoformat(), days=3, details="นอนโรงพยาบาลเวียงสระ")
        self.api.call(self.committee_a, "POST", f"{base}/{sick}/documents", params={"kind": "medical_certificate"},
                      files={"file": ("medical-certificate.png", tiny_png(), "image/png")})
        for key in ("paid_elderly", "paid_education", "paid_sickness"):
            act(key, self.committee_b, "approve")
        claim("submitted", member(others[2]), "education", recent, details="ทุนการศึกษา ชั้นประถม")
        claim("under_review", member(others[3]), "disadvantaged_disabled", recent, details="ผู้พิการทางการเคลื่อนไหว")
        act("under_review", self.committee_b, "review")
        claim("rejected", member(others[4]), "occupation", recent, details="ขอทุนซื้อจักรเย็บผ้า")
        act("rejected", self.committee_b, "reject", reason="โครงการอาชีพยังไม่มีแผนการใช้เงิน ยื่นใหม่พร้อมแผน")
        claim("cancelled", member(others[5]), "education", recent)
        act("cancelled", self.committee_a, "cancel", reason="ยื่นซ้ำ ผู้ยื่นขอยกเลิก")

        def paid(key: str) -> bool:
            got = self.api.call(self.committee_a, "GET", f"{base}/{self.loaded.claims[key]}")
            return got["status"] == "paid"

        self.wait_for("the payout worker to pay three claims", lambda: all(paid(k) for k in (
            "paid_elderly", "paid_education", "paid_sickness")))
        # A payout the reserve floor holds: the committee must release or cancel it.
        settings = f"/v1/benefits/funds/{plan.id}/settings"
        self.api.call(admin, "PATCH", settings, json={"reserve_floor_satang": 10**12})  # the most an amount may be
        claim("held", member(others[6]), "occupation", recent, details="ทุนประกอบอาชีพเลี้ยงไก่ไข่")
        act("held", self.committee_b, "approve")

        def held() -> bool:
            return self.api.call(self.committee_a, "GET", f"{base}/{self.loaded.claims['held']}")["payout_status"] == "held"

        self.wait_for("the payout to be held by the reserve floor", held)
        self.api.call(admin, "PATCH", settings, json={"reserve_floor_satang": 500_000 * B})

    def chawang_grants(self) -> None:
        plan = self.fund("ฉวาง")
        seed = self.facts["nakhon_si_thammarat_2008"]
        self.step("Nakhon Si Thammarat's 2008 grant programs; Chawang applies, is screened, awarded, paid")
        # Two grantors: CODI, and the provincial social development office (พมจ.); each officer acts
        # for one (docs/grantors.md).
        codi = self.api.call(self.admin, "POST", "/v1/grants/grantors", json={
            "kind": "codi", "name": "สถาบันพัฒนาองค์กรชุมชน (พอช.)"})["id"]
        pso = self.api.call(self.admin, "POST", "/v1/grants/grantors", json={
            "kind": "provincial_office", "name": "สำนักงานพัฒนาสังคมและความมั่นคงของมนุษย์จังหวัดนครศรีธรรมราช (พมจ.)"})["id"]
        officer_a = self.user("grant_officer_a", "เจ้าหน้าที่ พอช. (กลั่นกรอง 1)", "grant_officer", grantor_id=codi)
        officer_b = self.user("grant_officer_b", "เจ้าหน้าที่ พมจ. (กลั่นกรอง 2)", "grant_officer", grantor_id=pso)
        # The two reviewers may not decide: a third officer does.
        officer_c = self.user("grant_officer_c", "เจ้าหน้าที่ พอช. (ผู้อนุมัติ)", "grant_officer", grantor_id=codi)
        committee = self.user("committee_chawang", "กรรมการกองทุนฉวาง", "committee", fund_id=plan.id)
        province = [plan.province]
        # CODI's program is screened by CODI's officers and, by name, the พมจ. officer.
        target = self.api.call(officer_a, "POST", "/v1/grants/programs", json={
            "grantor": "codi", "reviewers": ["grant_officer", officer_b.id], "fiscal_year_be": 2551, "eligible_provinces": province,
            "name": "สวัสดิการชุมชนพื้นที่เป้าหมาย จังหวัดนครศรีธรรมราช ปีงบประมาณ 2551",
            "envelope_satang": baht_to_satang(seed["split"]["target_areas_province_baht"]),
            "per_fund_ceiling_satang": baht_to_satang(seed["codi_support_per_tambon_fund_baht"]), "report_due_days": 90})
        issues = self.api.call(officer_b, "POST", "/v1/grants/programs", json={
            "grantor": "provincial_office", "fiscal_year_be": 2551, "eligible_provinces": province,
            "name": "สวัสดิการชุมชนเชิงประเด็น จังหวัดนครศรีธรรมราช ปีงบประมาณ 2551",
            "envelope_satang": baht_to_satang(seed["split"]["issue_based_province_baht"])})
        self.loaded.programs = {"target_areas": target["id"], "issue_based": issues["id"]}
        application = self.api.call(committee, "POST", f"/v1/grants/programs/{target['id']}/applications", json={
            "fund_id": plan.id, "title": "สนับสนุนกองทุนสวัสดิการชุมชนตำบลฉวาง",
            "summary": "งบสนับสนุนกองทุนตำบลละ 55,000 บาท: สวัสดิการผู้สูงอายุและผู้ป่วยติดเตียง พัฒนาระบบข้อมูล และอบรม",
            "budget_lines": [
                {"line": "welfare", "description": "สวัสดิการผู้สูงอายุและผู้ป่วยติดเตียง", "amount_satang": 30_000 * B},
                {"line": "data", "description": "พัฒนาระบบข้อมูลสมาชิก", "amount_satang": 15_000 * B},
                {"line": "training", "description": "อบรมคณะกรรมการและอาสาสมัคร", "amount_satang": 10_000 * B}]})
        app_id = application["id"]
        self.loaded.applications["target_areas"] = app_id
        self.api.call(committee, "POST", f"/v1/grants/applications/{app_id}/submit")
        for officer, score in ((officer_a, 85), (officer_b, 80)):
            self.api.call(officer, "POST", f"/v1/grants/applications/{app_id}/reviews", json={
                "score": score, "recommendation": "approve", "comment": "แผนชัดเจน กองทุนมีความพร้อม"})
        decided = self.api.call(officer_c, "POST", f"/v1/grants/applications/{app_id}/decision", json={
            "decision": "approve", "note": "อนุมัติเต็มจำนวน แบ่งจ่ายสองงวด",
            "tranches": [
                {"amount_satang": 30_000 * B, "due_on": (self.today - dt.timedelta(days=10)).isoformat()},
                {"amount_satang": 25_000 * B, "due_on": (self.today + dt.timedelta(days=80)).isoformat(),
                 "requires_report": True}]}, headers={"Idempotency-Key": f"demo-decision-{app_id}"})
        first = decided["tranches"][0]["id"]
        self.api.call(officer_a, "POST", f"/v1/grants/applications/{app_id}/tranches/{first}/disbursement", json={
            "disbursed_on": (self.today - dt.timedelta(days=7)).isoformat(), "reference": "CODI-2551-NST-0001"},
            headers={"Idempotency-Key": f"demo-disbursement-{first}"})
        second = self.api.call(committee, "POST", f"/v1/grants/programs/{issues['id']}/applications", json={
            "fund_id": plan.id, "title": "สวัสดิการเด็กและเยาวชนตำบลฉวาง",
            "budget_lines": [{"line": "youth", "description": "ทุนการศึกษาและกิจกรรมเยาวชน", "amount_satang": 120_000 * B}]})
        self.loaded.applications["issue_based"] = second["id"]
        self.api.call(committee, "POST", f"/v1/grants/applications/{second['id']}/submit")
        self.api.call(officer_b, "POST", f"/v1/grants/applications/{second['id']}/reviews", json={
            "score": 70, "recommendation": "approve_in_part", "comment": "รอผลกลั่นกรองคนที่สอง"})

        def received() -> bool:
            got = self.api.call(officer_a, "GET", f"/v1/grants/applications/{app_id}/reconciliation")
            return got["received_by_ledger_satang"] == 30_000 * B

        self.wait_for("the grants worker to post the first tranche to Chawang's ledger", received)

    def opening_balances(self) -> None:
        """Top each ledger up to the source's accumulated fund with one opening balance."""
        self.step("opening balances: each fund's books made to hold the source's accumulated fund")
        last_year_end = dt.date(self.today.year - 1, 12, 31)
        for plan in self.loaded.funds:
            if plan.accumulated_satang is None:
                continue
            admin = self.loaded.users[f"admin:{plan.tambon}"]
            path = f"/v1/ledger/funds/{plan.id}/reports/holdings"
            held = self.api.call(admin, "GET", path)["accumulated_satang"] or 0
            opening = plan.accumulated_satang - held
            if opening < 0:
                raise DemoError(f"{plan.name} already holds {held} satang, more than the source's {plan.accumulated_satang}")
            if opening:
                day = dt.date(2018, 12, 31) if plan.tambon == "บ้านส้อง" else last_year_end
                self.api.call(admin, "POST", f"/v1/ledger/funds/{plan.id}/co-funding", json={
                    "id": str(uuid.uuid4()), "source": "other", "amount_satang": opening, "received_on": day.isoformat(),
                    "into": "bank", "reference": f"ยอดเงินกองทุนสะสมยกมา ณ {day.day}/{day.month}/{day.year + BE_OFFSET}"})
            now = self.api.call(admin, "GET", path)["accumulated_satang"]
            if now != plan.accumulated_satang:
                raise DemoError(f"{plan.name} holds {now} satang, not {plan.accumulated_satang}")

    def summary(self) -> str:
        loaded = self.loaded
        lines = [f"Demo loaded in {loaded.seconds:.1f} s ({loaded.calls:,} API calls). Dashboard: {self.url}/dashboard",
                 "", "Funds:"]
        for plan in loaded.funds:
            accumulated = "N/A" if plan.accumulated_satang is None else f"{plan.accumulated_satang / 100:,.2f}"
            lines.append(f"  {plan.no:>2}. {plan.name} ({plan.province}) {plan.members:,} members, {accumulated} baht  "
                         f"{self.url}/dashboard/funds/{plan.id}")
        lines += ["", f"Demo staff (password: {self.user_password}):"]
        for actor in loaded.users.values():
            lines.append(f"  {actor.phone}  {actor.name}")
        slowest = sorted(self.api.seconds.items(), key=lambda kv: -kv[1][1])[:6]
        lines += ["", "Where the time went (API calls):"]
        lines += [f"  {seconds:6.1f} s  {count:>5} x {kind}" for kind, (count, seconds) in slowest]
        if self.scale < 1:
            lines += ["", f"Scale {self.scale:g}: member counts and coverage are not the source's; money figures are."]
        return "\n".join(lines)


class AlreadyLoaded(DemoError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"demo data is already loaded ({', '.join(names)} exist); nothing was changed. "
                         "Load it into a fresh system (an empty SAJJA_HOME).")


def tiny_png() -> bytes:
    """A 1x1 white PNG: the photo of the medical certificate on the demo's sickness claim."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff")) + chunk(b"IEND", b"")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("SAJJA_DEMO_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--phone", default=os.environ.get("SAJJA_DEMO_PHONE", DEV_ADMIN_PHONE))
    parser.add_argument("--password", default=os.environ.get("SAJJA_DEMO_PASSWORD", DEV_ADMIN_PASSWORD))
    parser.add_argument("--scale", type=float, default=1.0, help="share of the source's members to load (money stays exact)")
    parser.add_argument("--user-password", default=os.environ.get("SAJJA_DEMO_USER_PASSWORD"),
                        help="password for the demo's staff (at least 10 characters); random when not given")
    args = parser.parse_args(argv)
    if not args.password:
        print("SAJJA_DEMO_PASSWORD is empty: set it to the platform admin's password, or unset it for the "
              "development login (README).", file=sys.stderr)
        return 2
    if not 0 < args.scale <= 1:
        print("--scale must be more than 0 and at most 1", file=sys.stderr)
        return 2
    if args.user_password is not None and len(args.user_password) < 10:
        print("--user-password needs at least 10 characters", file=sys.stderr)
        return 2
    demo = Demo(url=args.url, phone=args.phone, password=args.password, scale=args.scale, user_password=args.user_password)
    try:
        demo.run()
    except AlreadyLoaded as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return EXIT_ALREADY_LOADED
    except CannotLogIn as exc:
        print(f"make demo: {exc}\nSet SAJJA_DEMO_PHONE and SAJJA_DEMO_PASSWORD to the platform admin's login "
              "(the development login is in the README).", file=sys.stderr)
        return 1
    except httpx.ConnectError as exc:
        print(f"make demo: no Sajja at {args.url} ({exc}); start it with `make run` in another terminal.", file=sys.stderr)
        return 1
    except (DemoError, httpx.HTTPError) as exc:
        print(f"make demo failed: {exc}", file=sys.stderr)
        return 1
    print(demo.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
