"""Account reads: balances kept current, so a trial balance is one indexed scan per fund."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.accounts.schemas import AccountBalance, TrialBalance
from services.ledger.models import Account


async def trial_balance(*, session: AsyncSession, fund_id: uuid.UUID) -> TrialBalance:
    rows = (await session.scalars(select(Account).where(Account.fund_id == fund_id).order_by(Account.code))).all()
    debit = sum(a.balance_satang for a in rows if a.balance_satang > 0)
    credit = -sum(a.balance_satang for a in rows if a.balance_satang < 0)
    return TrialBalance(
        fund_id=fund_id,
        accounts=[AccountBalance.model_validate(a) for a in rows],
        debit_total_satang=debit,
        credit_total_satang=credit,
        balanced=debit == credit,
    )
