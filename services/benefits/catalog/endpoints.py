"""``/v1/benefits/funds/{fund_id}/catalog`` and the fund's benefit settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.benefits.access import FundActor, FundAdmin, FundCommittee
from services.benefits.catalog import service
from services.benefits.schemas import (
    BenefitIn,
    BenefitOut,
    Catalog,
    RulesIn,
    RuleVersionOut,
    SettingsIn,
    SettingsOut,
    TemplateIn,
)
from shared.audit import audit
from shared.auth import CurrentPrincipal
from shared.db import DbSession

router = APIRouter(prefix="/v1/benefits/funds/{fund_id}", tags=["benefits"])


@router.get("/catalog", response_model=Catalog)
async def catalog(fund_id: FundActor, session: DbSession) -> Any:
    """The fund's benefits with the rules in force today; every member and officer of the fund may read it."""
    return Catalog(items=await service.catalog(session, fund_id))


@router.post("/catalog", response_model=BenefitOut, status_code=201)
async def add_benefit(fund_id: FundAdmin, body: BenefitIn, session: DbSession, principal: CurrentPrincipal) -> Any:
    """A benefit of the fund's own, with its first rules (fund admins)."""
    benefit = await service.add_benefit(session, fund_id, body, principal.subject)
    await audit(session, principal, "benefits.catalog_create", fund_id=fund_id, object_type="benefit", object_id=body.code,
                details=body.model_dump(mode="json"))
    return benefit


@router.post("/catalog/from-templates", response_model=list[BenefitOut], status_code=201)
async def from_templates(fund_id: FundAdmin, body: TemplateIn, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Start the catalog from templates for the nine categories; the fund then sets its own rules."""
    made = await service.from_templates(session, fund_id, body.effective_from, principal.subject)
    await audit(session, principal, "benefits.catalog_from_templates", fund_id=fund_id, object_type="catalog",
                details={"effective_from": body.effective_from})
    return made


@router.post("/catalog/{code}/rules", response_model=RuleVersionOut, status_code=201)
async def add_rules(fund_id: FundAdmin, code: str, body: RulesIn, session: DbSession, principal: CurrentPrincipal) -> Any:
    """New rules from a date on. Claims are judged by the rules in force on their event date, and a
    decided claim keeps the rules it was decided by."""
    await service.get_benefit(session, fund_id, code)
    version = RuleVersionOut.model_validate(await service.add_version(session, fund_id, code, body.effective_from, body.rules, principal.subject))
    await audit(session, principal, "benefits.rules_create", fund_id=fund_id, object_type="benefit", object_id=code,
                details=body.model_dump(mode="json"))
    return version


@router.get("/catalog/{code}/rules", response_model=list[RuleVersionOut])
async def rule_versions(fund_id: FundActor, code: str, session: DbSession) -> Any:
    """Every version of a benefit's rules."""
    await service.get_benefit(session, fund_id, code)
    return [RuleVersionOut.model_validate(v) for v in await service.versions(session, fund_id, code)]


@router.get("/settings", response_model=SettingsOut)
async def get_settings(fund_id: FundCommittee, session: DbSession) -> Any:
    """The reserve payouts must leave, and the amount above which two approvers are needed."""
    return SettingsOut.model_validate(await service.settings_of(session, fund_id))


@router.patch("/settings", response_model=SettingsOut)
async def set_settings(fund_id: FundAdmin, body: SettingsIn, session: DbSession, principal: CurrentPrincipal) -> Any:
    settings = await service.settings_of(session, fund_id)
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(settings, name, value)
    await session.flush()
    await audit(session, principal, "benefits.settings_update", fund_id=fund_id, object_type="benefit_settings",
                object_id=fund_id, details=body.model_dump(mode="json", exclude_none=True))
    return SettingsOut.model_validate(settings)
