"""A fund's catalog: benefits and their rule versions, started from templates the fund then edits."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.models import Benefit, BenefitFund, RuleVersion
from services.benefits.rules import Rules
from services.benefits.schemas import BenefitIn, BenefitOut, RuleVersionOut
from shared.errors import Conflict, NotFound, register_messages
from shared.timeutil import bangkok_today

register_messages(
    {
        "benefit.not_found": {
            "th": ("ไม่พบสวัสดิการ", "ไม่พบสวัสดิการ {code} ในกองทุนนี้"),
            "en": ("Benefit not found", "No benefit {code} in this fund"),
        },
        "benefit.exists": {
            "th": ("มีสวัสดิการนี้แล้ว", "มีสวัสดิการรหัส {code} แล้ว"),
            "en": ("Benefit exists", "A benefit with code {code} exists"),
        },
        "benefit.no_rules_on_date": {
            "th": ("ยังไม่มีระเบียบ", "สวัสดิการ {code} ยังไม่มีระเบียบที่ใช้ในวันที่ {date}"),
            "en": ("No rules in force", "Benefit {code} has no rules in force on {date}"),
        },
        "benefit.rules_exist_on_date": {
            "th": ("มีระเบียบวันนี้แล้ว", "มีระเบียบของสวัสดิการนี้ที่เริ่มวันที่ {date} แล้ว เพิ่มฉบับใหม่ด้วยวันที่อื่น"),
            "en": ("Rules exist for that date", "Rules starting {date} exist; add a new version with another date"),
        },
    }
)

B = 100  # satang per baht

#: Templates for Ban Song's nine categories (the Ban Song case study). A starting point only: each fund writes its
#: own rules, and the documents insist they cannot be copied from one place to another.
TEMPLATES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "birth": ("สวัสดิการเกิด", "Birth", {
        "amount": {"model": "fixed", "amount_satang": 500 * B}, "waiting_days": 180, "per_year_count": 2,
        "required_documents": ["birth_certificate"]}),
    "sickness_medical": ("สวัสดิการเจ็บป่วย (นอนโรงพยาบาล)", "Sickness (hospital nights)", {
        "amount": {"model": "per_day", "per_day_satang": 100 * B, "max_days_per_event": 10, "max_days_per_year": 30},
        "waiting_days": 180, "max_periods_in_arrears": 3, "required_documents": ["medical_certificate"]}),
    "elderly": ("สวัสดิการผู้สูงอายุ", "Elderly", {
        "amount": {"model": "fixed", "amount_satang": 300 * B}, "waiting_days": 365, "min_age": 60, "per_year_count": 1}),
    "death": ("สวัสดิการเสียชีวิต", "Death", {
        "amount": {"model": "tiered", "tiers": [
            {"min_years": 0, "amount_satang": 3_000 * B}, {"min_years": 3, "amount_satang": 5_000 * B},
            {"min_years": 5, "amount_satang": 10_000 * B}, {"min_years": 10, "amount_satang": 20_000 * B}]},
        "waiting_days": 180, "once_per_member": True, "required_documents": ["death_certificate"],
        "who_may_apply": "committee"}),
    "education": ("สวัสดิการการศึกษา", "Education", {
        "amount": {"model": "fixed", "amount_satang": 500 * B}, "waiting_days": 365, "per_year_count": 1}),
    "disadvantaged_disabled": ("สวัสดิการผู้ด้อยโอกาสและผู้พิการ", "Disadvantaged and disabled", {
        "amount": {"model": "fixed", "amount_satang": 500 * B}, "waiting_days": 180, "per_year_count": 1}),
    "occupation": ("สวัสดิการส่งเสริมอาชีพ", "Occupation", {
        "amount": {"model": "fixed", "amount_satang": 1_000 * B}, "waiting_days": 365, "lifetime_count": 1}),
    "housing_repair": ("สวัสดิการซ่อมแซมที่อยู่อาศัย", "Housing repair", {
        "amount": {"model": "fixed", "amount_satang": 2_000 * B}, "waiting_days": 365, "lifetime_count": 1,
        "required_documents": ["photo"]}),
    "disaster_relief": ("สวัสดิการภัยพิบัติ", "Disaster relief", {
        "amount": {"model": "fixed", "amount_satang": 1_000 * B}, "waiting_days": 0, "per_year_count": 1,
        "required_documents": ["photo"]}),
}


async def settings_of(session: AsyncSession, fund_id: uuid.UUID) -> BenefitFund:
    """The fund's benefit settings, made with defaults the first time."""
    fund = await session.get(BenefitFund, fund_id)
    if fund is None:
        await session.execute(insert(BenefitFund).values(fund_id=fund_id).on_conflict_do_nothing())
        fund = await session.get(BenefitFund, fund_id)
    assert fund is not None
    return fund


async def get_benefit(session: AsyncSession, fund_id: uuid.UUID, code: str) -> Benefit:
    benefit = await session.get(Benefit, (fund_id, code))
    if benefit is None:
        raise NotFound("benefit.not_found", params={"code": code})
    return benefit


async def add_version(session: AsyncSession, fund_id: uuid.UUID, code: str, effective_from: dt.date, rules: Rules, by: str) -> RuleVersion:
    taken = await session.scalar(select(RuleVersion.version).where(
        RuleVersion.fund_id == fund_id, RuleVersion.code == code, RuleVersion.effective_from == effective_from))
    if taken is not None:
        raise Conflict("benefit.rules_exist_on_date", params={"date": effective_from.isoformat()})
    latest = await session.scalar(select(func.coalesce(func.max(RuleVersion.version), 0)).where(
        RuleVersion.fund_id == fund_id, RuleVersion.code == code))
    assert latest is not None  # coalesce
    version = RuleVersion(fund_id=fund_id, code=code, version=int(latest) + 1, effective_from=effective_from,
                          rules=rules.model_dump(mode="json"), created_by=by)
    session.add(version)
    await session.flush()
    return version


async def add_benefit(session: AsyncSession, fund_id: uuid.UUID, data: BenefitIn, by: str) -> BenefitOut:
    if await session.get(Benefit, (fund_id, data.code)) is not None:
        raise Conflict("benefit.exists", params={"code": data.code})
    benefit = Benefit(fund_id=fund_id, code=data.code, category=data.category, name_th=data.name_th, name_en=data.name_en)
    session.add(benefit)
    await session.flush()
    await add_version(session, fund_id, data.code, data.effective_from, data.rules, by)
    return await describe(session, benefit)


async def from_templates(session: AsyncSession, fund_id: uuid.UUID, effective_from: dt.date, by: str) -> list[BenefitOut]:
    """The nine template benefits, for those codes the fund does not have yet."""
    made = []
    for category, (name_th, name_en, rules) in TEMPLATES.items():
        if await session.get(Benefit, (fund_id, category)) is None:
            made.append(await add_benefit(session, fund_id, BenefitIn(
                code=category, category=category, name_th=name_th, name_en=name_en, effective_from=effective_from,
                rules=Rules.model_validate(rules)), by))
    return made


async def version_on(session: AsyncSession, fund_id: uuid.UUID, code: str, day: dt.date) -> RuleVersion | None:
    """The rules in force on ``day``: the latest version that started on or before it."""
    return await session.scalar(
        select(RuleVersion).where(RuleVersion.fund_id == fund_id, RuleVersion.code == code, RuleVersion.effective_from <= day)
        .order_by(RuleVersion.effective_from.desc()).limit(1)
    )


def _out(benefit: Benefit, current: RuleVersion | None) -> BenefitOut:
    return BenefitOut(code=benefit.code, category=benefit.category, name_th=benefit.name_th, name_en=benefit.name_en,
                      is_active=benefit.is_active, rules=RuleVersionOut.model_validate(current) if current else None)


async def describe(session: AsyncSession, benefit: Benefit) -> BenefitOut:
    return _out(benefit, await version_on(session, benefit.fund_id, benefit.code, bangkok_today()))


async def catalog(session: AsyncSession, fund_id: uuid.UUID) -> list[BenefitOut]:
    rows = (await session.scalars(select(Benefit).where(Benefit.fund_id == fund_id).order_by(Benefit.code))).all()
    # The version in force today of every benefit, in one query rather than one per benefit.
    current = {v.code: v for v in (await session.scalars(
        select(RuleVersion).where(RuleVersion.fund_id == fund_id, RuleVersion.effective_from <= bangkok_today())
        .order_by(RuleVersion.code, RuleVersion.effective_from.desc()).ext(distinct_on(RuleVersion.code)))).all()}
    return [_out(b, current.get(b.code)) for b in rows]


async def versions(session: AsyncSession, fund_id: uuid.UUID, code: str) -> list[RuleVersion]:
    return list((await session.scalars(select(RuleVersion).where(
        RuleVersion.fund_id == fund_id, RuleVersion.code == code).order_by(RuleVersion.version))).all())
